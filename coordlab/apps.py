from django.apps import AppConfig


class CoordlabConfig(AppConfig):
    name = "coordlab"
    verbose_name = "CoordLab"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from coordlab.basics.kind import KIND
        from coordlab.labs import registry

        registry.register(KIND)
