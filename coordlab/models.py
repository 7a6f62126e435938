"""What CoordLab keeps in its database."""

from __future__ import annotations

from django.db import models


class Scenario(models.Model):
    """A built-in scenario as the catalog lists it (synced from code by
    ``manage.py load_scenarios``)."""

    slug = models.SlugField(primary_key=True)
    title = models.CharField(max_length=200)
    promise = models.TextField(help_text="One line: what a learner will see.")
    kind = models.CharField(max_length=40)
    position = models.PositiveIntegerField(default=0)
    listed = models.BooleanField(default=True, help_text="Shown in the catalog.")

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.title


class LabRecord(models.Model):
    """A lab that was started, so its URL keeps working."""

    id = models.CharField(primary_key=True, max_length=16)
    scenario_slug = models.SlugField()
    seed = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "lab"

    def __str__(self) -> str:
        return f"{self.scenario_slug} ({self.id})"
