from django.contrib import admin

from .models import LabRecord, Scenario


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "kind", "position", "listed"]
    list_editable = ["position", "listed"]


@admin.register(LabRecord)
class LabRecordAdmin(admin.ModelAdmin):
    list_display = ["id", "scenario_slug", "seed", "created_at"]
    readonly_fields = ["id", "scenario_slug", "seed", "created_at"]
