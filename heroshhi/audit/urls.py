"""Mounted under /w/<slug:slug>/settings/audit/ by config/urls.py."""

from django.urls import path

from heroshhi.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.audit_log, name="log"),
    path("verify/", views.audit_verify, name="verify"),
]
