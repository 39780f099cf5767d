from django.urls import include, path

urlpatterns = [
    path("", include("heroshhi.core.urls")),
    path("accounts/", include("heroshhi.accounts.urls")),
]

handler400 = "heroshhi.core.errors.bad_request"
handler403 = "heroshhi.core.errors.permission_denied"
handler404 = "heroshhi.core.errors.page_not_found"
handler500 = "heroshhi.core.errors.server_error"
