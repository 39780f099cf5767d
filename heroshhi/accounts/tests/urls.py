"""The project's routes plus what these tests need before the lead wires it in:
the ``account/`` include (if ``config.urls`` lacks it) and a probe page inside a workspace."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLResolver, include, path

from config import urls as project_urls


def workspace_probe(request: HttpRequest, slug: str) -> HttpResponse:
    return HttpResponse(f"inside {request.workspace.slug}")  # type: ignore[attr-defined]


def _has_namespace(namespace: str) -> bool:
    return any(
        isinstance(p, URLResolver) and p.namespace == namespace for p in project_urls.urlpatterns
    )


urlpatterns = [
    *project_urls.urlpatterns,
    path("w/<slug:slug>/probe/", workspace_probe, name="workspace_probe"),
]
if not _has_namespace("security"):
    urlpatterns.append(path("account/", include("heroshhi.accounts.security_urls")))

handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500
