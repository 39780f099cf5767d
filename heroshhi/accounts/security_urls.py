"""The signed-in user's own security settings, included at ``account/``."""

from django.urls import path

from heroshhi.accounts import views, views_data_rights

app_name = "security"

urlpatterns = [
    path("security/", views.security_view, name="index"),
    path("security/password/", views.password_change_view, name="password_change"),
    path("security/sessions/end-all/", views.logout_everywhere_view, name="logout_everywhere"),
    path("security/two-factor/", views.two_factor_view, name="two_factor"),
    path("security/two-factor/setup/", views.two_factor_setup_view, name="two_factor_setup"),
    path("security/two-factor/confirm/", views.two_factor_confirm_view, name="two_factor_confirm"),
    path("security/two-factor/disable/", views.two_factor_disable_view, name="two_factor_disable"),
    path("security/two-factor/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("data/", views_data_rights.my_data_view, name="my_data"),
    path("data/download/", views_data_rights.my_data_download_view, name="my_data_download"),
    path("data/delete/", views_data_rights.account_delete_view, name="account_delete"),
    path(
        "security/workspaces/<slug:slug>/two-factor/",
        views.workspace_two_factor_view,
        name="workspace_two_factor",
    ),
    path(
        "security/workspaces/<slug:slug>/members/<uuid:user_id>/unlock/",
        views.workspace_member_unlock_view,
        name="workspace_member_unlock",
    ),
]
