from django.urls import path, register_converter

from heroshhi.workspaces import views, views_termination


class WorkspaceSlugConverter:
    """Exactly the slugs WorkspaceMiddleware resolves, so no view under /w/ ever runs
    without a workspace in scope."""

    regex = "[a-z0-9][a-z0-9-]{0,59}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(WorkspaceSlugConverter, "workspace")

app_name = "workspaces"

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("start/", views.workspace_start, name="start"),
    # Listed before the token route so "accept" is never read as a token.
    path("invitations/accept/", views.invitation_continue, name="invitation_continue"),
    path("invitations/<str:token>/", views.invitation_link, name="invitation_accept"),
    path("w/<workspace:slug>/", views.dashboard, name="dashboard"),
    path("w/<workspace:slug>/team/", views.team, name="team"),
    path("w/<workspace:slug>/team/invite/", views.team_invite, name="team_invite"),
    path(
        "w/<workspace:slug>/team/members/<uuid:member_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "w/<workspace:slug>/team/members/<uuid:member_id>/remove/",
        views.member_remove_confirm,
        name="member_remove",
    ),
    path(
        "w/<workspace:slug>/team/invitations/<uuid:invitation_id>/revoke/",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
    # The owner's danger zone: whole-workspace export and termination.
    path(
        "w/<workspace:slug>/settings/workspace/",
        views_termination.danger_zone,
        name="danger_zone",
    ),
    path(
        "w/<workspace:slug>/settings/workspace/export/",
        views_termination.export_start,
        name="export_start",
    ),
    path(
        "w/<workspace:slug>/settings/workspace/export/<uuid:export_id>/",
        views_termination.export_status,
        name="export_status",
    ),
    path(
        "w/<workspace:slug>/settings/workspace/export/download/<str:token>/",
        views_termination.export_download,
        name="export_download",
    ),
    path(
        "w/<workspace:slug>/settings/workspace/terminate/",
        views_termination.terminate,
        name="terminate",
    ),
    path(
        "w/<workspace:slug>/settings/workspace/terminate/cancel/",
        views_termination.terminate_cancel,
        name="terminate_cancel",
    ),
]
