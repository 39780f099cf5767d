from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "heroshhi.api"
    label = "api"
    verbose_name = "REST API"
