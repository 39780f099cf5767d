"""The API keys page at /w/<slug>/settings/api-keys/: who may use it, creating a key that
is shown once, revoking it in place or with a full page."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import PASSWORD, World
from heroshhi.accounts.models import ApiKey, User
from heroshhi.accounts.services import API_KEY_PREFIX, api_key_create, user_create
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create
from heroshhi.workspaces.tests.helpers import sign_in

pytestmark = pytest.mark.django_db

PAGE = "/w/alpha/settings/api-keys/"
CREATE = PAGE + "new/"
NEW_KEY = re.compile(r'<code id="new-api-key">(hx_[A-Za-z0-9_-]+)</code>')


def _revoke_url(key: ApiKey, slug: str = "alpha") -> str:
    return f"/w/{slug}/settings/api-keys/{key.pk}/revoke/"


def _create(client: Client, name: str = "Website form", role: str = "sales"):
    return client.post(CREATE, {"name": name, "role": role})


def _issued_from(response) -> str:
    match = NEW_KEY.search(response.content.decode())
    assert match, "the new key is not on the page"
    return match.group(1)


def _keys(world: World) -> list[ApiKey]:
    with workspace_scope(world.a):
        return list(ApiKey.objects.order_by("created_at"))


def _me(plaintext: str):
    return Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def _issue(world: World, name: str, role: Role = Role.SALES) -> ApiKey:
    return api_key_create(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=Role.OWNER),
        created_by=world.alice,
        name=name,
        role=role,
    ).key


@pytest.fixture
def manager(world: World) -> User:
    """Maya, a manager in workspace A."""
    maya = user_create(email="maya@a.example", password=PASSWORD, full_name="Maya")
    membership_create(workspace=world.a, user=maya, role=Role.MANAGER)
    return maya


# --- Listing ----------------------------------------------------------------------------


def test_the_owner_sees_the_keys_with_prefix_role_creator_and_status(world: World):
    active = _issue(world, "Website form")
    revoked = _issue(world, "Old import", role=Role.MANAGER)
    client = sign_in(world.alice)
    client.post(_revoke_url(revoked))

    response = client.get(PAGE)
    html = response.content.decode()

    assert response.status_code == 200
    assert f"hx_{active.prefix}_…" in html
    assert f"hx_{revoked.prefix}_…" in html
    for text in ("Website form", "Old import", "Manager", "Sales"):
        assert text in html
    assert "Alice" in html
    assert "Never" in html  # neither key was used yet
    assert "Active" in html
    assert "Revoked" in html
    # Only the active key can still be revoked.
    assert _revoke_url(active) in html
    assert _revoke_url(revoked) not in html


def test_the_sidebar_links_the_page_for_owners_and_managers_only(world: World, manager: User):
    for user in (world.alice, manager):
        assert PAGE in sign_in(user).get("/w/alpha/").content.decode()
    assert PAGE not in sign_in(world.bob).get("/w/alpha/").content.decode()


def test_the_list_runs_the_same_queries_for_one_key_or_many(world: World):
    client = sign_in(world.alice)
    _issue(world, "one")
    client.get(PAGE)  # the first visit also stamps the session
    with CaptureQueriesContext(connection) as few:
        assert client.get(PAGE).status_code == 200
    for n in range(5):
        _issue(world, f"more {n}")
    with CaptureQueriesContext(connection) as many:
        assert client.get(PAGE).status_code == 200

    assert len(many) == len(few) <= 5


# --- Creating ---------------------------------------------------------------------------


def test_the_owner_creates_a_key_that_is_shown_once_and_works(world: World):
    client = sign_in(world.alice)

    response = _create(client, name="Website form", role="manager")
    plaintext = _issued_from(response)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "It won't be shown again" in response.content.decode()
    (key,) = _keys(world)
    assert (key.name, key.role, key.created_by) == ("Website form", "manager", world.alice)
    assert plaintext.startswith(f"hx_{key.prefix}_")
    # Shown once: the next visit lists the key by its prefix only.
    again = client.get(PAGE).content.decode()
    assert plaintext not in again
    assert f"hx_{key.prefix}_…" in again
    # And it is a working key of workspace A with the chosen role.
    me = _me(plaintext)
    assert me.status_code == 200
    assert me.json()["workspace"]["slug"] == "alpha"
    assert me.json()["role"] == "manager"


def test_the_secret_lives_nowhere_but_in_the_creating_response(world: World):
    client = sign_in(world.alice)

    plaintext = _issued_from(_create(client))

    (key,) = _keys(world)
    assert key.secret_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    # The secret may itself contain "_" (URL-safe base64): split after the prefix part only.
    secret = plaintext.removeprefix(API_KEY_PREFIX).split("_", 1)[1]
    assert all(secret not in str(value) for value in vars(key).values())
    assert secret not in json.dumps(dict(client.session.items()), default=str)
    for event in AuditEvent.objects.all():
        text = json.dumps([event.metadata, event.target_id, event.reason], default=str)
        assert secret not in text
        assert "@" not in text
    assert list(
        AuditEvent.objects.filter(action=AuditAction.API_KEY_CREATED).values_list(
            "metadata", flat=True
        )
    ) == [{"role": "sales"}]


def test_a_key_without_a_name_is_refused_inline(world: World):
    response = _create(sign_in(world.alice), name="   ")

    assert response.status_code == 200
    assert "field--invalid" in response.content.decode()
    assert NEW_KEY.search(response.content.decode()) is None
    assert _keys(world) == []


def test_a_manager_creates_sales_keys_but_not_owner_keys(world: World, manager: User):
    client = sign_in(manager)

    page = client.get(PAGE).content.decode()
    assert '<option value="sales"' in page
    assert '<option value="owner"' not in page
    assert '<option value="manager"' not in page

    refused = _create(client, name="Sneaky", role="owner")
    html = refused.content.decode()
    assert refused.status_code == 200
    assert "A key cannot have more rights than you." in html
    assert NEW_KEY.search(html) is None
    assert _keys(world) == []

    plaintext = _issued_from(_create(client, name="Zapier", role="sales"))
    assert _me(plaintext).json()["role"] == "sales"


# --- Revoking ---------------------------------------------------------------------------


def test_revoking_without_htmx_redirects_and_the_key_stops_working(world: World):
    client = sign_in(world.alice)
    plaintext = _issued_from(_create(client))
    (key,) = _keys(world)
    assert _me(plaintext).status_code == 200

    response = client.post(_revoke_url(key))

    assert response.status_code == 302
    assert response["Location"] == PAGE
    assert _me(plaintext).status_code == 401
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert (
        AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED, target_id=str(key.pk)).count()
        == 1
    )


def test_revoking_with_htmx_swaps_the_row_in_place(world: World):
    key = _issue(world, "Website form")
    client = sign_in(world.alice)

    response = client.post(_revoke_url(key), HTTP_HX_REQUEST="true")
    html = response.content.decode()

    assert response.status_code == 200
    assert html.strip().startswith(f'<tr id="api-key-{key.pk}">')
    assert "Revoked" in html
    assert "<form" not in html  # nothing left to revoke
    assert "<html" not in html


def test_revoking_twice_is_harmless(world: World):
    key = _issue(world, "Website form")
    client = sign_in(world.alice)
    client.post(_revoke_url(key))

    assert client.post(_revoke_url(key)).status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED).count() == 1


# --- Who may use the page ---------------------------------------------------------------


def test_sales_get_403_everywhere_on_the_page(world: World):
    key = _issue(world, "Website form")
    bob = sign_in(world.bob)

    assert bob.get(PAGE).status_code == 403
    assert _create(bob).status_code == 403
    assert bob.post(_revoke_url(key)).status_code == 403
    assert len(_keys(world)) == 1
    key.refresh_from_db()
    assert key.revoked_at is None


def test_charlie_gets_404_for_workspace_a(world: World):
    key = _issue(world, "Website form")
    charlie = sign_in(world.charlie)

    assert charlie.get(PAGE).status_code == 404
    assert _create(charlie).status_code == 404
    assert charlie.post(_revoke_url(key)).status_code == 404
    assert len(_keys(world)) == 1


def test_charlie_cannot_revoke_alices_key_from_his_own_workspace(world: World):
    key = _issue(world, "Website form")
    charlie = sign_in(world.charlie)

    assert charlie.post(_revoke_url(key, slug="beta")).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_signed_out_visitors_are_sent_to_sign_in(world: World):
    response = Client().get(PAGE)

    assert response.status_code in (302, 404)
    assert "hx_" not in response.content.decode()
