from django.urls import path

from heroshhi.messaging import (
    views,
    views_composer,
    views_conversation,
    views_lead_panel,
    views_optouts,
)

app_name = "messaging"

# Team inbox pages.
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("opt-outs/", views_optouts.optout_ledger, name="optout_ledger"),
    path("<uuid:conversation_id>/", views_conversation.conversation_detail, name="conversation"),
    path("<uuid:conversation_id>/live/", views_conversation.conversation_live, name="live"),
    path("<uuid:conversation_id>/send/", views_composer.conversation_send, name="send"),
    path(
        "<uuid:conversation_id>/template/",
        views_composer.conversation_send_template,
        name="send_template",
    ),
    path(
        "<uuid:conversation_id>/media/<uuid:message_id>/",
        views_conversation.conversation_media,
        name="media",
    ),
    path("<uuid:conversation_id>/note/", views_conversation.conversation_note, name="note_add"),
    path("<uuid:conversation_id>/assign/", views_conversation.conversation_assign, name="assign"),
    path("<uuid:conversation_id>/status/", views_conversation.conversation_status, name="status"),
    path("lead/<uuid:lead_id>/panel/", views_lead_panel.lead_panel, name="lead_panel"),
    path("lead/<uuid:lead_id>/opt-out/", views_lead_panel.lead_optout, name="lead_optout"),
    path("lead/<uuid:lead_id>/calls/", views_lead_panel.lead_call_log, name="lead_call_log"),
]
