from django.apps import AppConfig


class ZookeeperAppConfig(AppConfig):
    name = "zookeeper_app"
    verbose_name = "ZooKeeper labs"
