"""API keys: bearer auth, workspace scope from the key, shown once, revocable, role-capped."""

import pytest

from heroshhi.accounts.models import ApiKey
from heroshhi.accounts.services import api_key_create
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.permissions import Role


def _issue(workspace, role=Role.OWNER, actor_role=Role.OWNER):
    return api_key_create(
        workspace=workspace,
        actor=Actor.user("test", role=actor_role),
        created_by=None,
        name="integration",
        role=role,
    ).plaintext


def _auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_a_request_without_a_key_is_refused_with_a_typed_error(client, world):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_the_key_sets_the_workspace(client, world):
    response = client.get("/api/v1/me", **_auth(_issue(world.a)))
    assert response.status_code == 200
    assert response.json()["workspace"]["slug"] == "alpha"
    assert response.json()["role"] == "owner"


def test_only_a_hash_of_the_key_is_stored(world):
    plaintext = _issue(world.a)
    with workspace_scope(world.a):
        stored = ApiKey.objects.get()
    assert plaintext not in stored.secret_hash
    assert plaintext.startswith(f"hx_{stored.prefix}_")


def test_a_key_is_shown_once_on_creation_and_never_listed(client, world):
    owner_key = _issue(world.a)
    created = client.post(
        "/api/v1/api-keys",
        {"name": "zapier", "role": "sales"},
        content_type="application/json",
        **_auth(owner_key),
    )
    assert created.status_code == 201
    secret = created.json()["key"]
    listed = client.get("/api/v1/api-keys", **_auth(owner_key))
    assert listed.status_code == 200
    assert secret not in listed.content.decode()
    assert {k["name"] for k in listed.json()} == {"integration", "zapier"}


def test_a_manager_key_cannot_mint_an_owner_key(client, world):
    manager_key = _issue(world.a, role=Role.MANAGER)
    response = client.post(
        "/api/v1/api-keys",
        {"name": "escalate", "role": "owner"},
        content_type="application/json",
        **_auth(manager_key),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_sales_key_cannot_manage_keys(client, world):
    sales_key = _issue(world.a, role=Role.SALES)
    assert client.get("/api/v1/api-keys", **_auth(sales_key)).status_code == 403


def test_a_revoked_key_stops_working(client, world):
    owner_key = _issue(world.a)
    other = client.post(
        "/api/v1/api-keys",
        {"name": "temp", "role": "manager"},
        content_type="application/json",
        **_auth(owner_key),
    ).json()
    assert client.delete(f"/api/v1/api-keys/{other['id']}", **_auth(owner_key)).status_code == 204
    response = client.get("/api/v1/me", **_auth(other["key"]))
    assert response.status_code == 401


def test_another_workspace_cannot_revoke_a_key_it_does_not_own(client, world):
    alice_key = _issue(world.a)
    with workspace_scope(world.a):
        alice_key_id = ApiKey.objects.get().pk
    charlie_key = _issue(world.b)
    response = client.delete(f"/api/v1/api-keys/{alice_key_id}", **_auth(charlie_key))
    assert response.status_code == 404
    assert client.get("/api/v1/me", **_auth(alice_key)).status_code == 200


@pytest.mark.parametrize("body", [{"name": "", "role": "owner"}, {"name": "x", "role": "god"}, {}])
def test_invalid_input_gets_field_errors_not_a_500(client, world, body):
    response = client.post(
        "/api/v1/api-keys", body, content_type="application/json", **_auth(_issue(world.a))
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["fields"]
