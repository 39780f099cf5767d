"""The ceiling's URLconf: one view that stores the request body with one INSERT into a plain
table (``bench_ceiling_hit``, created by the benchmark; no tenant data) and answers 200,
placed in front of the project's own routes, so it passes the same middleware as any page."""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config import urls as project_urls


@csrf_exempt
@require_POST
def insert(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_ceiling_hit (body) VALUES (%s)", [request.body.decode()])
    return HttpResponse("OK", content_type="text/plain; charset=utf-8")


# The path is CEILING_PATH of bench/ceiling.py.
urlpatterns = [path("_bench/ceiling/insert", insert), *project_urls.urlpatterns]
handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500
