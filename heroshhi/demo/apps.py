from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo workspace and ``manage.py runstack`` (what `make run` starts). It sits above
    every other app and nothing imports it."""

    name = "heroshhi.demo"
    label = "demo"
    default_auto_field = "django.db.models.BigAutoField"
