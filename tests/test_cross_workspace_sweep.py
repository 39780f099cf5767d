"""The cross-workspace sweep: every route, requested by Charlie (workspace B) for Alice's
(workspace A) objects, must answer 404 or show nothing of A.

Every URL pattern and every API operation must be listed in ROUTES or API_OPERATIONS below.
A new route that is not listed fails `test_every_route_is_covered`, so nobody can add an
endpoint without saying how it keeps tenants apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from conftest import PASSWORD, World
from heroshhi.accounts.models import ApiKey
from heroshhi.accounts.services import api_key_create
from heroshhi.api.root import api
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.permissions import Role


@dataclass(frozen=True)
class Public:
    """Serves no workspace data at all."""

    reason: str


@dataclass(frozen=True)
class WorkspacePage:
    """An HTML route under /w/<slug>/...; ``kwargs`` builds Alice's objects for the URL."""

    kwargs: Callable[[World], dict[str, str]]


@dataclass(frozen=True)
class ForeignObject:
    """An API operation on one object: Charlie's key asks for Alice's object → 404."""

    path_params: Callable[[World], dict[str, str]]


@dataclass(frozen=True)
class ScopedList:
    """An API list: Charlie's key must see none of Alice's ids."""

    alice_ids: Callable[[World], set[str]]


@dataclass(frozen=True)
class ScopedCreate:
    """An API create by Charlie's key leaves Alice's objects untouched."""

    body: dict[str, object]
    alice_ids: Callable[[World], set[str]]


def _alice_api_key_id(world: World) -> str:
    with workspace_scope(world.a):
        return str(ApiKey.objects.values_list("pk", flat=True)[0])


def _alice_api_key_ids(world: World) -> set[str]:
    with workspace_scope(world.a):
        return {str(pk) for pk in ApiKey.objects.values_list("pk", flat=True)}


ROUTES: dict[str, Public | WorkspacePage] = {
    "core:home": Public("landing page; lists only the caller's own workspaces"),
    "core:healthz": Public("liveness, no data"),
    "core:readyz": Public("readiness, no data"),
    "accounts:login": Public("sign-in form"),
    "accounts:logout": Public("ends the caller's own session"),
    # API patterns are covered operation by operation below.
    "api:openapi-json": Public("schema only"),
    "api:api-root": Public("API index, no data"),
    "api:me": Public("see API_OPERATIONS"),
    "api:api_keys_list": Public("see API_OPERATIONS"),
    "api:api_keys_create": Public("see API_OPERATIONS"),
    "api:api_keys_revoke": Public("see API_OPERATIONS"),
}

API_OPERATIONS: dict[str, Public | ForeignObject | ScopedList | ScopedCreate] = {
    "GET /api/v1/me": Public("describes the calling key only"),
    "GET /api/v1/api-keys": ScopedList(_alice_api_key_ids),
    "POST /api/v1/api-keys": ScopedCreate({"name": "sneaky", "role": "sales"}, _alice_api_key_ids),
    "DELETE /api/v1/api-keys/{key_id}": ForeignObject(
        lambda world: {"key_id": _alice_api_key_id(world)}
    ),
}


def _url_patterns(patterns=None, prefix: str = "", namespace: str | None = None):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _url_patterns(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield name, prefix + str(pattern.pattern)


def _api_operations() -> list[str]:
    schema = api.get_openapi_schema()
    return [
        f"{method.upper()} {path}"
        for path, methods in schema["paths"].items()
        for method in methods
    ]


def test_every_route_is_covered():
    uncovered = [f"{name} ({route})" for name, route in _url_patterns() if name not in ROUTES]
    assert uncovered == [], f"add these routes to the sweep: {uncovered}"


def test_every_api_operation_is_covered():
    uncovered = [op for op in _api_operations() if op not in API_OPERATIONS]
    assert uncovered == [], f"add these API operations to the sweep: {uncovered}"


@pytest.fixture
def populated(world: World) -> World:
    """Give workspace A one of everything the routes expose."""
    for workspace in (world.a, world.b):
        api_key_create(
            workspace=workspace,
            actor=Actor.user("setup", role=Role.OWNER),
            created_by=None,
            name="sweep",
            role=Role.OWNER,
        )
    return world


def _charlie_key(world: World) -> str:
    return api_key_create(
        workspace=world.b,
        actor=Actor.user("setup", role=Role.OWNER),
        created_by=None,
        name="charlie",
        role=Role.OWNER,
    ).plaintext


@pytest.mark.parametrize(
    "name", sorted(n for n, p in ROUTES.items() if isinstance(p, WorkspacePage))
)
def test_charlie_gets_404_on_every_workspace_page_of_alice(client, populated, name):
    probe = ROUTES[name]
    assert isinstance(probe, WorkspacePage)
    url = reverse(name, kwargs={"slug": populated.a.slug, **probe.kwargs(populated)})
    client.login(email=populated.charlie.email, password=PASSWORD)
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


@pytest.mark.parametrize("operation", sorted(API_OPERATIONS))
def test_charlie_cannot_reach_alices_objects_through_the_api(client, populated, operation):
    probe = API_OPERATIONS[operation]
    method, path = operation.split(" ", 1)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {_charlie_key(populated)}"}
    call = getattr(client, method.lower())
    if isinstance(probe, Public):
        return
    if isinstance(probe, ForeignObject):
        response = call(path.format(**probe.path_params(populated)), **headers)
        assert response.status_code == 404, response.content
        return
    if isinstance(probe, ScopedList):
        response = call(path, **headers)
        assert response.status_code == 200
        body = response.content.decode()
        leaked = [uid for uid in probe.alice_ids(populated) if uid in body]
        assert leaked == []
        return
    before = probe.alice_ids(populated)
    call(path, probe.body, content_type="application/json", **headers)
    assert probe.alice_ids(populated) == before
