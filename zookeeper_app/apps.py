from django.apps import AppConfig


class ZookeeperAppConfig(AppConfig):
    name = "zookeeper_app"
    verbose_name = "ZooKeeper labs"

    def ready(self) -> None:
        from coordlab.labs import registry

        from .kind import KIND

        registry.register(KIND)
