"""Django admin for staff: scenario presets, classrooms and running labs, with
actions that reach the running labs at once (every viewer sees them), whichever
server process runs them. The live columns (viewers, time, speed) are this
process's; a lab run elsewhere or put away shows the time it last saved."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from coordlab.labs import registry
from coordlab.labs.commands import Command
from coordlab.labs.runtime import UnknownLab, get_runtime

from .models import Classroom, LabRecord, Sandbox, Scenario, Student


async def _command(lab_id: str, name: str) -> str:
    runtime = await get_runtime()
    return await runtime.execute(lab_id, Command(name, {}))


async def _status(lab_id: str) -> dict[str, Any] | None:
    return (await get_runtime()).status(lab_id)


def apply_to_labs(modeladmin: admin.ModelAdmin, request: HttpRequest, lab_ids: list[str], name: str,
                  done: str) -> None:
    """Send ``name`` to each lab, in the server's event loop, and say what happened."""
    for lab_id in lab_ids:
        try:
            async_to_sync(_command)(lab_id, name)
        except UnknownLab:
            modeladmin.message_user(request, f"Lab {lab_id} cannot run: its scenario is gone.", messages.ERROR)
    modeladmin.message_user(request, f"{done} {len(lab_ids)} lab(s); everyone watching sees it now.")


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "kind", "based_on", "seed", "position", "listed"]
    list_editable = ["position", "listed"]
    actions = ["make_copy"]

    def get_readonly_fields(self, request: HttpRequest, obj: Scenario | None = None) -> list[str]:
        if obj is not None and not obj.based_on:
            return ["slug", "kind", "based_on", "seed", "title", "promise"]  # built-in: synced from code
        return ["kind"] if obj is not None else []

    @admin.action(description="Make an editable copy (title, promise, seed)")
    def make_copy(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        for preset in queryset:
            built_in = registry.get(preset.built_in)
            number = 1
            while Scenario.objects.filter(slug=f"{preset.built_in}-copy-{number}").exists():
                number += 1
            Scenario.objects.create(
                slug=f"{preset.built_in}-copy-{number}", title=f"{preset.title} (copy {number})",
                promise=preset.promise, kind=preset.kind, position=preset.position, based_on=preset.built_in,
                seed=preset.seed if preset.seed is not None else (built_in.seed if built_in else 1), listed=False)
        self.message_user(request, "Copied; edit the copy and tick “listed” to show it in the catalog.")


class StudentInline(admin.TabularInline):
    """The students who joined: staff may rename one, hand or take control, or remove one; students
    join only by the code (a seat is a browser's, which the admin cannot make)."""

    model = Student
    fields = ["name", "has_control", "joined_at"]
    readonly_fields = ["joined_at"]
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Classroom)
class ClassroomAdmin(admin.ModelAdmin):
    list_display = ["code", "lab", "instructor", "control", "closed", "created_at"]
    list_filter = ["closed", "control"]
    readonly_fields = ["code", "lab", "created_at"]
    inlines = [StudentInline]
    actions = ["reset_to_scenario", "close"]

    @admin.action(description="Reset to its scenario (for everyone watching)")
    def reset_to_scenario(self, request: HttpRequest, queryset: QuerySet[Classroom]) -> None:
        apply_to_labs(self, request, [c.lab_id for c in queryset], "reset", "Reset")

    @admin.action(description="Close (pause its lab; students can no longer join)")
    def close(self, request: HttpRequest, queryset: QuerySet[Classroom]) -> None:
        lab_ids = [c.lab_id for c in queryset]
        queryset.update(closed=True)
        apply_to_labs(self, request, lab_ids, "pause", "Closed and paused")


@admin.register(LabRecord)
class LabRecordAdmin(admin.ModelAdmin):
    list_display = ["id", "scenario_slug", "seed", "owner", "viewers", "virtual_time", "speed", "created_at"]
    readonly_fields = ["id", "scenario_slug", "seed", "created_at"]
    actions = ["reset", "stop"]

    def _status(self, obj: LabRecord) -> dict[str, Any] | None:
        status: dict[str, Any] | None = async_to_sync(_status)(obj.id)
        return status

    @admin.display(description="owner")
    def owner(self, obj: LabRecord) -> str:
        if Classroom.objects.filter(lab_id=obj.id).exists():
            return "classroom"
        return "a browser (sandbox)" if Sandbox.objects.filter(lab_id=obj.id).exists() else "nobody"

    @admin.display(description="viewers")
    def viewers(self, obj: LabRecord) -> str:
        status = self._status(obj)
        return "not running in this process" if status is None else str(status["viewers"])

    @admin.display(description="virtual time")
    def virtual_time(self, obj: LabRecord) -> str:
        status = self._status(obj)
        if status is None:  # put away, or run by another server process: what it last saved
            return f"{obj.virtual_time_ms / 1000:.1f} s (last saved)" if obj.saved_at else "–"
        return f"{status['now_s']:.1f} s{'' if status['playing'] else ' (paused)'}"

    @admin.display(description="speed")
    def speed(self, obj: LabRecord) -> str:
        status = self._status(obj)
        return "–" if status is None else f"{status['speed']:g}x"

    @admin.action(description="Reset to the scenario's start (for everyone watching)")
    def reset(self, request: HttpRequest, queryset: QuerySet[LabRecord]) -> None:
        apply_to_labs(self, request, [lab.id for lab in queryset], "reset", "Reset")

    @admin.action(description="Stop (pause) for everyone watching")
    def stop(self, request: HttpRequest, queryset: QuerySet[LabRecord]) -> None:
        apply_to_labs(self, request, [lab.id for lab in queryset], "pause", "Stopped")
