from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    name = "heroshhi.whatsapp"
    label = "whatsapp"
    verbose_name = "WhatsApp"
    default_auto_field = "django.db.models.BigAutoField"
