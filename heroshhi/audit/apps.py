from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "heroshhi.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from heroshhi.audit.selectors import audit_queue_readiness
        from heroshhi.core.readiness import readiness_probe_register

        readiness_probe_register("audit_queue", audit_queue_readiness)
