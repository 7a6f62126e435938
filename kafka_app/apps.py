from django.apps import AppConfig


class KafkaAppConfig(AppConfig):
    name = "kafka_app"
    verbose_name = "Kafka labs"

    def ready(self) -> None:
        from coordlab.labs import registry

        from .kind import KIND

        registry.register(KIND)
