"""What CoordLab keeps in its database."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower


class Scenario(models.Model):
    """A scenario preset as the catalog lists it: a built-in one (synced from code by
    ``manage.py load_scenarios``) or an admin's editable copy of one, with its own
    title, promise and seed."""

    slug = models.SlugField(primary_key=True)
    title = models.CharField(max_length=200)
    promise = models.TextField(help_text="One line: what a learner will see.")
    kind = models.CharField(max_length=40)
    position = models.PositiveIntegerField(default=0)
    listed = models.BooleanField(default=True, help_text="Shown in the catalog.")
    based_on = models.SlugField(blank=True, help_text="For a copy: the built-in scenario it starts from.")
    seed = models.BigIntegerField(null=True, blank=True, help_text="For a copy: the seed of its random choices "
                                  "(message delays, elections); empty for the built-in one's.")

    @property
    def built_in(self) -> str:
        """The slug of the built-in scenario a lab of this preset runs."""
        return self.based_on or self.slug

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.title


class LabRecord(models.Model):
    """A lab that was started, so its URL keeps working, and its latest saved state, so a
    restarted server resumes it where it was (see ``coordlab.labs.runtime``)."""

    id = models.CharField(primary_key=True, max_length=16)
    scenario_slug = models.SlugField()
    seed = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # ``Lab.state()`` without its simulation snapshot, as JSON text (text, not a JSON column:
    # PostgreSQL's jsonb would reorder the keys of logged commands)
    state = models.TextField(blank=True, default="", editable=False)
    # the simulation snapshot the state replays from, compressed (empty: start from the seed)
    snapshot = models.TextField(blank=True, default="", editable=False)
    saved_at = models.DateTimeField(null=True, blank=True, editable=False)
    virtual_time_ms = models.BigIntegerField(default=0, editable=False,
                                             help_text="The lab's virtual time when it was last saved.")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "lab"

    def __str__(self) -> str:
        return f"{self.scenario_slug} ({self.id})"


class Sandbox(models.Model):
    """A lab that belongs to one browser: only its owner changes it; anyone with its
    address may watch."""

    lab = models.OneToOneField(LabRecord, on_delete=models.CASCADE, primary_key=True, related_name="sandbox")
    # the owner token kept in the browser's session data (see ``coordlab.access.Person``)
    owner = models.CharField(max_length=64, db_index=True)
    # the network address the lab was opened from, for the limit of labs per address
    address = models.CharField(max_length=64, db_index=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"sandbox {self.lab_id}"


class Classroom(models.Model):
    """An instructor's lab that a lecture hall watches, joined with a short code."""

    CONTROL_CHOICES = [("instructor", "Only the instructor"), ("everyone", "Everyone in the classroom"),
                       ("named", "The instructor and named students")]

    code = models.CharField(primary_key=True, max_length=6)
    lab = models.ForeignKey(LabRecord, on_delete=models.CASCADE, related_name="classrooms")
    instructor = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="classrooms")
    control = models.CharField(max_length=12, choices=CONTROL_CHOICES, default="instructor")
    created_at = models.DateTimeField(auto_now_add=True)
    closed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"classroom {self.code}"


class Student(models.Model):
    """A browser that joined a classroom with its code, and the name its instructor sees.

    A student is their browser's owner token (kept in its session data, so logging in
    keeps it), not their name: a name is only unique within its classroom, whatever its
    case, so that the instructor's names are unambiguous.
    """

    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="students")
    owner = models.CharField(max_length=64, editable=False)
    name = models.CharField(max_length=40)
    joined_at = models.DateTimeField(auto_now_add=True)
    has_control = models.BooleanField(default=False, help_text="May change the lab when control is “named”.")

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(fields=["classroom", "owner"], name="one_seat_per_browser"),
            models.UniqueConstraint(Lower("name"), "classroom", name="one_name_per_classroom"),
        ]

    def __str__(self) -> str:
        return self.name
