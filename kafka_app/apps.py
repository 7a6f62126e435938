from django.apps import AppConfig


class KafkaAppConfig(AppConfig):
    name = "kafka_app"
    verbose_name = "Kafka labs"
