from django.urls import path

from heroshhi.privacy import platform_views

app_name = "platform_privacy"

urlpatterns = [
    path("", platform_views.overview, name="overview"),
    path("incidents/new/", platform_views.incident_new, name="incident_new"),
    path(
        "incidents/<uuid:incident_id>/",
        platform_views.incident_detail,
        name="incident_detail",
    ),
    path(
        "incidents/<uuid:incident_id>/notices/<str:kind>/",
        platform_views.incident_notice,
        name="incident_notice",
    ),
]
