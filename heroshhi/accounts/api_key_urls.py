"""Mounted under /w/<slug:slug>/settings/api-keys/ by config/urls.py."""

from django.urls import path

from heroshhi.accounts import views_api_keys as views

app_name = "api_keys"

urlpatterns = [
    path("", views.api_keys, name="list"),
    path("new/", views.api_key_create_view, name="create"),
    path("<uuid:key_id>/revoke/", views.api_key_revoke_view, name="revoke"),
]
