from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    name = "heroshhi.whatsapp"
    label = "whatsapp"
    verbose_name = "WhatsApp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from heroshhi.messaging.channels import register_transport
        from heroshhi.whatsapp.models import KIND
        from heroshhi.whatsapp.transport import GraphTransport

        register_transport(KIND, GraphTransport, details="whatsapp")
