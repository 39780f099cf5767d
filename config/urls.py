from django.urls import include, path

from heroshhi.api.root import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("heroshhi.core.urls")),
    path("accounts/", include("heroshhi.accounts.urls")),
    path("account/", include("heroshhi.accounts.security_urls")),
    path("", include("heroshhi.workspaces.urls")),
    path("platform/privacy/", include("heroshhi.privacy.platform_urls")),
    path("platform/", include("heroshhi.workspaces.platform_admin.urls")),
    path("w/<slug:slug>/settings/audit/", include("heroshhi.audit.urls")),
    path("w/<slug:slug>/settings/api-keys/", include("heroshhi.accounts.api_key_urls")),
    path("w/<slug:slug>/leads/", include("heroshhi.leads.urls")),
    path("w/<slug:slug>/inbox/", include("heroshhi.messaging.urls")),
    path("w/<slug:slug>/settings/channels/", include("heroshhi.whatsapp.urls")),
    path("webhooks/whatsapp/", include("heroshhi.whatsapp.webhook_urls")),
    path("w/<slug:slug>/privacy/", include("heroshhi.privacy.urls")),
    path("privacy-request/<slug:slug>/", include("heroshhi.privacy.public_urls")),
]

handler400 = "heroshhi.core.errors.bad_request"
handler403 = "heroshhi.core.errors.permission_denied"
handler404 = "heroshhi.core.errors.page_not_found"
handler500 = "heroshhi.core.errors.server_error"
