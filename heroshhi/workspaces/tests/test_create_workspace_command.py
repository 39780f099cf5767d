import json

import pytest
from django.core.management import CommandError, call_command

from heroshhi.accounts.models import User
from heroshhi.audit.models import AuditEvent
from heroshhi.workspaces.models import Membership

pytestmark = pytest.mark.django_db


def _run(capsys, *args):
    call_command("create_workspace", *args)
    return json.loads(capsys.readouterr().out)


def test_it_creates_a_workspace_and_owner_and_prints_json(capsys, monkeypatch):
    monkeypatch.setenv("OWNER_PW", "a long enough passphrase 7")
    out = _run(
        capsys,
        "--name",
        "Sharma Motors",
        "--owner",
        "Ravi@Example.com",
        "--password-env",
        "OWNER_PW",
    )
    assert out["workspace"]["slug"] == "sharma-motors"
    assert out["owner"] == {"email": "ravi@example.com"}
    assert "api_key" not in out
    user = User.objects.get(email="ravi@example.com")
    assert user.check_password("a long enough passphrase 7")
    membership = Membership.objects.unscoped().get(user=user)
    assert membership.role == "owner"
    assert str(membership.workspace_id) == out["workspace"]["id"]
    assert AuditEvent.objects.filter(action="workspace_created").count() == 1


def test_it_issues_an_owner_api_key_that_works(capsys, monkeypatch, client):
    monkeypatch.setenv("OWNER_PW", "a long enough passphrase 7")
    out = _run(
        capsys,
        "--name",
        "Keyed",
        "--owner",
        "k@example.com",
        "--password-env",
        "OWNER_PW",
        "--api-key",
    )
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {out['api_key']}")
    assert response.status_code == 200
    assert response.json()["role"] == "owner"
    assert response.json()["workspace"]["slug"] == "keyed"


def test_slugs_stay_unique(capsys, monkeypatch):
    monkeypatch.setenv("OWNER_PW", "a long enough passphrase 7")
    first = _run(capsys, "--name", "Same", "--owner", "s@example.com", "--password-env", "OWNER_PW")
    second = _run(capsys, "--name", "Same", "--owner", "s@example.com")
    assert first["workspace"]["slug"] == "same"
    assert second["workspace"]["slug"] == "same-2"


def test_a_weak_password_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setenv("OWNER_PW", "short")
    with pytest.raises(CommandError, match="too short"):
        call_command(
            "create_workspace",
            "--name",
            "W",
            "--owner",
            "w@example.com",
            "--password-env",
            "OWNER_PW",
        )
    assert not User.objects.exists()


def test_a_new_owner_without_a_password_is_refused():
    with pytest.raises(CommandError, match="password-env"):
        call_command("create_workspace", "--name", "W", "--owner", "nobody@example.com")
