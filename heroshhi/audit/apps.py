from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "heroshhi.audit"
    label = "audit"
    verbose_name = "Audit log"
