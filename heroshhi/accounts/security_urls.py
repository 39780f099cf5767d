"""The signed-in user's own security settings, included at ``account/``."""

from django.urls import path

from heroshhi.accounts import views

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
    path(
        "security/workspaces/<slug:slug>/two-factor/",
        views.workspace_two_factor_view,
        name="workspace_two_factor",
    ),
]
