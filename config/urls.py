from django.urls import include, path

from heroshhi.api.root import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("heroshhi.core.urls")),
    path("accounts/", include("heroshhi.accounts.urls")),
]

handler400 = "heroshhi.core.errors.bad_request"
handler403 = "heroshhi.core.errors.permission_denied"
handler404 = "heroshhi.core.errors.page_not_found"
handler500 = "heroshhi.core.errors.server_error"
