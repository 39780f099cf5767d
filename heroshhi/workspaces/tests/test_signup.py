"""Signup: a new business gets its owner account and workspace in one step."""

from __future__ import annotations

import pytest
from django.test import Client

from heroshhi.accounts.models import User, UserSession
from heroshhi.audit.models import AuditEvent
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.tests.helpers import membership_of
from heroshhi.workspaces.views import SIGNUP_LIMIT

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "a long enough passphrase 7"


def _signup(client: Client, **overrides: str):
    data = {
        "business_name": "Sharma Motors",
        "full_name": "Ravi Sharma",
        "email": "Ravi@Sharma.example",
        "password": GOOD_PASSWORD,
        **overrides,
    }
    return client.post("/signup/", data)


def test_signup_creates_the_owner_and_the_workspace_and_signs_them_in(client):
    response = _signup(client)

    assert response.status_code == 302
    assert response["Location"] == "/w/sharma-motors/"
    user = User.objects.get(email="ravi@sharma.example")
    assert user.full_name == "Ravi Sharma"
    assert user.check_password(GOOD_PASSWORD)
    workspace = Workspace.objects.get(slug="sharma-motors")
    assert workspace.name == "Sharma Motors"
    membership = membership_of(user, workspace)
    assert membership is not None
    assert membership.role == "owner"
    # Signed in, with a session that "sign out everywhere" can reach.
    assert client.get("/w/sharma-motors/").status_code == 200
    assert UserSession.objects.filter(user=user).count() == 1


def test_signup_is_audited_without_personal_data(client):
    _signup(client)

    user = User.objects.get()
    created = AuditEvent.objects.get(action="user_created")
    assert created.workspace_id is None
    assert created.target_id == str(user.pk)
    assert created.metadata == {"via": "signup"}
    workspace_event = AuditEvent.objects.get(action="workspace_created")
    assert workspace_event.actor_id == str(user.pk)
    for event in AuditEvent.objects.all():
        assert "sharma.example" not in str(event.metadata).lower()


def test_a_taken_address_is_refused_with_a_clear_message(client, world):
    response = _signup(client, email="ALICE@a.example")

    assert response.status_code == 200
    assert "An account with this e-mail address already exists" in response.content.decode()
    assert not Workspace.objects.filter(name="Sharma Motors").exists()


def test_a_weak_password_shows_the_validators_messages(client):
    response = _signup(client, password="short")

    html = response.content.decode()
    assert response.status_code == 200
    assert "too short" in html
    assert not User.objects.exists()
    assert not Workspace.objects.exists()


def test_workspace_slugs_stay_unique_and_url_safe(client):
    _signup(client, business_name="Sharma & Sons_Ltd", email="one@sharma.example")
    second = Client()
    _signup(second, business_name="Sharma & Sons_Ltd", email="two@sharma.example")
    third = Client()
    _signup(third, business_name="शर्मा", email="three@sharma.example")

    slugs = set(Workspace.objects.values_list("slug", flat=True))
    assert slugs == {"sharma-sons-ltd", "sharma-sons-ltd-2", "workspace"}


def test_signups_are_rate_limited_per_ip(client):
    for _ in range(SIGNUP_LIMIT.limit):
        assert _signup(client, password="short").status_code == 200

    response = _signup(client, email="late@sharma.example")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    html = response.content.decode()
    assert "Too many attempts" in html
    assert 'value="late@sharma.example"' in html  # what was typed is kept
    assert not User.objects.exists()


def test_signed_in_people_are_sent_home_instead(client, world):
    client.force_login(world.alice)

    response = client.get("/signup/")

    assert response.status_code == 302
    assert response["Location"] == "/"
