"""Master-key and workspace-key rotation keep every row readable."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heroshhi.audit.models import AuditEvent
from heroshhi.core.crypto import blind_index, ciphertext_key_id, reset_key_caches
from heroshhi.core.models import WorkspaceKey
from heroshhi.core.tests.crypto.conftest import master_entry, raw_row, write_raw
from heroshhi.core.tests.crypto.testapp.models import SecretNote, WorkspaceProfile

pytestmark = pytest.mark.django_db

OLD = master_entry("old")
NEW = master_entry("new")


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _seed(world, count: int = 7) -> dict:
    """Notes in both workspaces plus a workspace-owned row; returns pk -> expected values."""
    expected = {}
    for workspace in (world.a, world.b):
        for i in range(count):
            note = SecretNote(
                workspace=workspace,
                subject=f"subject {workspace.slug} {i}",
                body=f"body {workspace.slug} {i} नमस्ते",
                payload={"i": i} if i % 2 else None,
            )
            note.save()
            expected[note.pk] = (note.subject, note.body, note.payload)
    WorkspaceProfile.objects.create(id=world.a.pk, billing_contact="billing@alpha.example")
    return expected


def _assert_all_readable(expected: dict, world) -> None:
    reset_key_caches()  # read everything through freshly unwrapped keys
    for pk, (subject, body, payload) in expected.items():
        note = SecretNote.objects.unscoped().get(pk=pk)
        assert (note.subject, note.body, note.payload) == (subject, body, payload)
    profile = WorkspaceProfile.objects.get(pk=world.a.pk)
    assert profile.billing_contact == "billing@alpha.example"


def _key_ids_in_rows(workspace) -> set[str]:
    ids = set()
    for note in SecretNote.objects.unscoped().filter(workspace=workspace):
        row = raw_row(SecretNote, note.pk)
        ids |= {ciphertext_key_id(row[c]) for c in ("subject", "body", "payload") if row[c]}
    return ids


def _use_master_keys(settings, value: str) -> None:
    settings.MASTER_KEYS = value
    reset_key_caches()


# --- master key --------------------------------------------------------------------------


def test_master_key_rotation_rewraps_every_key_and_keeps_rows_readable(world, settings):
    _use_master_keys(settings, OLD)
    expected = _seed(world)
    assert set(WorkspaceKey.objects.values_list("master_key_id", flat=True)) == {"old"}

    _use_master_keys(settings, f"{NEW},{OLD}")
    output = _run("rotate_master_key")
    assert "2 workspace keys, 2 re-wrapped, 0 already current" in output
    assert set(WorkspaceKey.objects.values_list("master_key_id", flat=True)) == {"new"}

    _use_master_keys(settings, NEW)  # the old master key is gone from the configuration
    _assert_all_readable(expected, world)


def test_master_key_rotation_is_idempotent(world, settings):
    _use_master_keys(settings, OLD)
    _seed(world, count=1)
    _use_master_keys(settings, f"{NEW},{OLD}")
    _run("rotate_master_key")
    output = _run("rotate_master_key")
    assert "0 re-wrapped, 2 already current" in output
    assert "old master keys may be removed" in output


def test_master_key_rotation_without_the_old_key_fails_clearly(world, settings):
    _use_master_keys(settings, OLD)
    _seed(world, count=1)
    _use_master_keys(settings, NEW)
    with pytest.raises(CommandError, match="'old' is not configured"):
        _run("rotate_master_key")


def test_it_prints_a_new_master_key_entry_on_request():
    entry = _run("rotate_master_key", "--generate-key").strip()
    key_id, _, encoded = entry.partition(":")
    assert key_id.startswith("mk-")
    assert len(encoded) == 44


# --- workspace data key ------------------------------------------------------------------


def test_workspace_key_rotation_re_encrypts_every_row_and_retires_the_old_version(world, settings):
    expected = _seed(world)
    old_key_ids = _key_ids_in_rows(world.a)
    beta_key_ids = _key_ids_in_rows(world.b)

    output = _run("rotate_workspace_key", "--workspace", "alpha", "--batch-size", "3")

    assert "rotating into data key v2" in output
    assert "8 rows scanned, 8 re-encrypted, 0 already current" in output  # 7 notes + profile
    assert "1 older version(s) retired" in output
    new_key_ids = _key_ids_in_rows(world.a)
    assert len(new_key_ids) == 1
    assert new_key_ids.isdisjoint(old_key_ids)
    assert _key_ids_in_rows(world.b) == beta_key_ids  # the other workspace is untouched
    states = dict(
        WorkspaceKey.objects.filter(workspace=world.a, purpose="data").values_list(
            "version", "state"
        )
    )
    assert states == {1: "retired", 2: "active"}
    _assert_all_readable(expected, world)
    event = AuditEvent.objects.get(action="workspace_key_rotated")
    assert event.workspace_id == world.a.pk
    assert event.metadata["reencrypted"] == 8


def test_an_interrupted_workspace_rotation_resumes_where_it_stopped(world, settings):
    expected = _seed(world)

    first = _run(
        "rotate_workspace_key", "--workspace", "alpha", "--batch-size", "2", "--max-batches", "2"
    )
    assert "Stopped early" in first
    assert "4 re-encrypted" in first
    assert len(_key_ids_in_rows(world.a)) == 2  # half old, half new
    assert set(
        WorkspaceKey.objects.filter(workspace=world.a, purpose="data").values_list(
            "state", flat=True
        )
    ) == {"active"}  # the old version is not retired yet
    _assert_all_readable(expected, world)  # mixed keys still read fine

    second = _run("rotate_workspace_key", "--workspace", "alpha", "--batch-size", "2")
    assert "resumed data key v2" in second  # no third version for a resumed run
    assert "4 already current" in second
    assert "1 older version(s) retired" in second
    assert WorkspaceKey.objects.filter(workspace=world.a, purpose="data").count() == 2
    assert len(_key_ids_in_rows(world.a)) == 1
    _assert_all_readable(expected, world)


def test_rows_written_under_a_retired_key_stay_readable_and_a_sweep_moves_them(world):
    note = SecretNote(workspace=world.a, body="written before rotation")
    note.save()
    stale_token = raw_row(SecretNote, note.pk)["body"]
    _run("rotate_workspace_key", "--workspace", "alpha")
    # A process with a stale key cache wrote under the old key after the rotation finished.
    write_raw(SecretNote, note.pk, "body", stale_token)
    reset_key_caches()
    assert SecretNote.objects.unscoped().get(pk=note.pk).body == "written before rotation"

    output = _run("rotate_workspace_key", "--workspace", "alpha", "--sweep")
    assert "rotating into data key v2" in output
    assert "1 re-encrypted" in output
    assert WorkspaceKey.objects.filter(workspace=world.a, purpose="data").count() == 2
    assert SecretNote.objects.unscoped().get(pk=note.pk).body == "written before rotation"


def test_rotation_leaves_the_blind_index_key_alone(world):
    _seed(world, count=1)
    before = blind_index(world.a.pk, "email", "a@b.in")
    _run("rotate_workspace_key", "--workspace", "alpha")
    reset_key_caches()
    assert blind_index(world.a.pk, "email", "a@b.in") == before


def test_rotating_a_workspace_without_keys_does_nothing(world):
    output = _run("rotate_workspace_key", "--workspace", "beta")
    assert "no data key yet" in output
    assert not WorkspaceKey.objects.exists()


def test_an_unknown_workspace_is_a_command_error(world):
    with pytest.raises(CommandError, match="No workspace"):
        _run("rotate_workspace_key", "--workspace", "nope")
