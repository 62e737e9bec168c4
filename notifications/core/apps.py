from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "notifications.core"
    label = "core"
    verbose_name = "Delivery core"
