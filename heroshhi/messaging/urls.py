from django.urls import path

from heroshhi.messaging import views, views_optouts

app_name = "messaging"

# Team inbox pages.
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("opt-outs/", views_optouts.optout_ledger, name="optout_ledger"),
    path("<uuid:conversation_id>/", views.conversation_detail, name="conversation"),
    path("<uuid:conversation_id>/live/", views.conversation_live, name="live"),
    path("<uuid:conversation_id>/send/", views.conversation_send, name="send"),
    path(
        "<uuid:conversation_id>/template/", views.conversation_send_template, name="send_template"
    ),
    path(
        "<uuid:conversation_id>/media/<uuid:message_id>/",
        views.conversation_media,
        name="media",
    ),
    path("<uuid:conversation_id>/note/", views.conversation_note, name="note_add"),
    path("<uuid:conversation_id>/assign/", views.conversation_assign, name="assign"),
    path("<uuid:conversation_id>/status/", views.conversation_status, name="status"),
    path("lead/<uuid:lead_id>/panel/", views.lead_panel, name="lead_panel"),
    path("lead/<uuid:lead_id>/opt-out/", views.lead_optout, name="lead_optout"),
    path("lead/<uuid:lead_id>/calls/", views.lead_call_log, name="lead_call_log"),
]
