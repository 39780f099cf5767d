from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "heroshhi.workspaces"
    label = "workspaces"
    verbose_name = "Workspaces"
