"""``manage.py create_instructor <username>``: a staff user in the group
"Instructors", who can log in (through the admin) and start classrooms."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coordlab.access import INSTRUCTORS


class Command(BaseCommand):
    help = "Create (or update) an instructor: a staff user in the group Instructors."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", help="default: the environment variable INSTRUCTOR_PASSWORD")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or os.environ.get("INSTRUCTOR_PASSWORD")
        if not password:
            raise CommandError("Give a password with --password or INSTRUCTOR_PASSWORD.")
        user, created = User.objects.get_or_create(username=options["username"])
        user.is_staff = True
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get_or_create(name=INSTRUCTORS)[0])
        self.stdout.write(f"{'Created' if created else 'Updated'} instructor {user.username}.")
