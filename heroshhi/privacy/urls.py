from django.urls import path

from heroshhi.privacy import views, views_compliance, views_rights

app_name = "privacy"

urlpatterns = [
    path("", views.request_list, name="requests"),
    path("new/", views.request_new, name="request_new"),
    path("reminders/read/", views.reminders_read, name="reminders_read"),
    path("holidays/", views.holiday_list, name="holidays"),
    path("holidays/<uuid:holiday_id>/remove/", views.holiday_remove, name="holiday_remove"),
    path("requests/<uuid:request_id>/", views.request_detail, name="request_detail"),
    path("requests/<uuid:request_id>/link/", views.request_link, name="request_link"),
    path("requests/<uuid:request_id>/report/", views_rights.request_report, name="request_report"),
    path("requests/<uuid:request_id>/export/", views_rights.request_export, name="request_export"),
    path(
        "requests/<uuid:request_id>/download/<str:token>/",
        views_rights.request_download,
        name="request_download",
    ),
    path("requests/<uuid:request_id>/erase/", views_rights.request_erase, name="request_erase"),
    path(
        "requests/<uuid:request_id>/restrict/",
        views_rights.request_restrict,
        name="request_restrict",
    ),
    path(
        "requests/<uuid:request_id>/unrestrict/",
        views_rights.request_unrestrict,
        name="request_unrestrict",
    ),
    path("requests/<uuid:request_id>/object/", views_rights.request_object, name="request_object"),
    path("requests/<uuid:request_id>/complete/", views.request_complete, name="request_complete"),
    path("requests/<uuid:request_id>/reject/", views.request_reject, name="request_reject"),
    path("compliance/", views_compliance.compliance_page, name="compliance"),
    path("compliance/verify/", views_compliance.compliance_verify, name="compliance_verify"),
    path("retention/", views_compliance.retention_settings, name="retention"),
    path("leads/<uuid:lead_id>/consent/", views_compliance.lead_consent, name="lead_consent"),
    path("leads/<uuid:lead_id>/restrict/", views_rights.lead_restrict, name="lead_restrict"),
    path("leads/<uuid:lead_id>/unrestrict/", views_rights.lead_unrestrict, name="lead_unrestrict"),
]
