from django.urls import path

from heroshhi.whatsapp import views

app_name = "whatsapp"

# Channel settings pages (owner/manager).
urlpatterns = [
    path("", views.channel_list, name="list"),
    path("add/", views.channel_add, name="add"),
    path("keywords/", views.optout_keywords_update, name="keywords"),
    path("failed-items/", views.failed_items, name="failed_items"),
    path(
        "failed-items/<uuid:item_id>/replay/", views.failed_item_replay, name="failed_item_replay"
    ),
    path("<uuid:channel_id>/", views.channel_detail, name="detail"),
    path("<uuid:channel_id>/check/", views.channel_check_view, name="check"),
    path("<uuid:channel_id>/remove/", views.channel_remove, name="remove"),
]
