from django.urls import path

from heroshhi.workspaces.platform_admin import views

app_name = "platform"

urlpatterns = [
    path("", views.workspace_list, name="workspaces"),
    path("workspaces/<uuid:workspace_id>/", views.workspace_detail, name="workspace_detail"),
    path(
        "workspaces/<uuid:workspace_id>/suspend/",
        views.workspace_suspend_view,
        name="workspace_suspend",
    ),
    path(
        "workspaces/<uuid:workspace_id>/reactivate/",
        views.workspace_reactivate_view,
        name="workspace_reactivate",
    ),
    path("audit/", views.audit_events, name="audit_events"),
    path("audit/verify/", views.audit_verify, name="audit_verify"),
]
