"""Sync the built-in scenarios from code into the catalog table."""

from django.core.management.base import BaseCommand

from coordlab.labs import registry
from coordlab.models import Scenario


class Command(BaseCommand):
    help = "Create or update a catalog entry for every built-in scenario."

    def handle(self, *args, **options):
        for position, scenario in enumerate(registry.scenarios().values()):
            Scenario.objects.update_or_create(
                slug=scenario.slug,
                defaults={"title": scenario.title, "promise": scenario.promise,
                          "kind": scenario.kind, "position": position},
            )
        self.stdout.write(f"Loaded {len(registry.scenarios())} built-in scenario(s).")
