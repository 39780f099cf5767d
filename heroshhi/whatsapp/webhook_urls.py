from django.urls import path

from heroshhi.whatsapp import webhooks

app_name = "whatsapp_webhooks"

urlpatterns = [
    path("<uuid:channel_id>/", webhooks.whatsapp_webhook, name="receive"),
]
