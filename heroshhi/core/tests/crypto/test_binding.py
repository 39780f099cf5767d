"""A ciphertext only opens in its own row, column and workspace, under the right keys."""

from __future__ import annotations

import base64

import pytest

from heroshhi.core.crypto import (
    CIPHERTEXT_PREFIX,
    DecryptionError,
    FieldContext,
    canonical_workspace_id,
    decrypt_value,
    encrypt_value,
    reset_key_caches,
)
from heroshhi.core.tests.crypto.conftest import master_entry, raw_row, write_raw
from heroshhi.core.tests.crypto.testapp.models import SecretNote, WorkspaceProfile

pytestmark = pytest.mark.django_db

SECRET = "Rahul Verma, rahul@example.in"


def _note(workspace, **values) -> SecretNote:
    note = SecretNote(workspace=workspace, **values)
    note.save()
    return note


def _fresh(note: SecretNote) -> SecretNote:
    return SecretNote.objects.unscoped().get(pk=note.pk)


def _assert_refused(read, *, table_column: str) -> DecryptionError:
    with pytest.raises(DecryptionError) as caught:
        read()
    message = str(caught.value)
    assert table_column in message
    assert "Rahul" not in message
    assert CIPHERTEXT_PREFIX not in message
    return caught.value


def test_it_refuses_a_ciphertext_moved_to_another_row(world):
    victim = _note(world.a, body=SECRET)
    target = _note(world.a, body="harmless")
    write_raw(SecretNote, target.pk, "body", raw_row(SecretNote, victim.pk)["body"])
    error = _assert_refused(lambda: _fresh(target).body, table_column="secretnote.body")
    assert error.key_id  # names the key so an operator can find it


def test_it_refuses_a_ciphertext_moved_to_another_column(world):
    note = _note(world.a, body=SECRET, subject="harmless")
    write_raw(SecretNote, note.pk, "subject", raw_row(SecretNote, note.pk)["body"])
    _assert_refused(lambda: _fresh(note).subject, table_column="secretnote.subject")
    assert _fresh(note).body == SECRET


def test_it_refuses_a_ciphertext_moved_to_another_workspace(world):
    victim = _note(world.a, body=SECRET)
    foreign = _note(world.b, body="harmless")
    write_raw(SecretNote, foreign.pk, "body", raw_row(SecretNote, victim.pk)["body"])
    _assert_refused(lambda: _fresh(foreign).body, table_column="secretnote.body")


def test_it_refuses_a_row_moved_to_another_workspace(world):
    note = _note(world.a, body=SECRET)
    write_raw(SecretNote, note.pk, "workspace_id", world.b.pk.hex)
    _assert_refused(lambda: _fresh(note).body, table_column="secretnote.body")


def test_it_refuses_a_workspace_owned_value_moved_to_another_workspace(world):
    alpha = WorkspaceProfile.objects.create(id=world.a.pk, billing_contact=SECRET)
    beta = WorkspaceProfile.objects.create(id=world.b.pk, billing_contact="harmless")
    stolen = raw_row(WorkspaceProfile, alpha.pk)["billing_contact"]
    write_raw(WorkspaceProfile, beta.pk, "billing_contact", stolen)
    _assert_refused(
        lambda: WorkspaceProfile.objects.get(pk=beta.pk).billing_contact,
        table_column="workspaceprofile.billing_contact",
    )


def test_it_refuses_a_tampered_ciphertext(world):
    note = _note(world.a, body=SECRET)
    token = raw_row(SecretNote, note.pk)["body"]
    raw = bytearray(base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4)))
    raw[-1] ^= 0x01  # flip one bit of the tag
    tampered = CIPHERTEXT_PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    write_raw(SecretNote, note.pk, "body", tampered)
    _assert_refused(lambda: _fresh(note).body, table_column="secretnote.body")


@pytest.mark.parametrize("stored", ["plain text", "hx1:***", "hx1:AAAA", "hx1:" + "A" * 60])
def test_it_refuses_values_that_are_not_ciphertexts(world, stored):
    note = _note(world.a, body="x")
    write_raw(SecretNote, note.pk, "body", stored)
    _assert_refused(lambda: _fresh(note).body, table_column="secretnote.body")


def test_the_aad_binds_each_part_of_the_context(world):
    context = FieldContext(
        workspace_id=canonical_workspace_id(world.a.pk),
        table="t",
        column="c",
        row_id="r1",
    )
    token = encrypt_value(SECRET.encode(), context=context)
    assert decrypt_value(token, context=context) == SECRET.encode()
    for changed in (
        FieldContext(context.workspace_id, "t2", "c", "r1"),
        FieldContext(context.workspace_id, "t", "c2", "r1"),
        FieldContext(context.workspace_id, "t", "c", "r2"),
        FieldContext(canonical_workspace_id(world.b.pk), "t", "c", "r1"),
    ):
        with pytest.raises(DecryptionError):
            decrypt_value(token, context=changed)


def test_a_wrong_master_key_raises_instead_of_returning_garbage(world, settings):
    settings.MASTER_KEYS = master_entry("m1")
    reset_key_caches()
    note = _note(world.a, body=SECRET)
    settings.MASTER_KEYS = master_entry("m1")  # same id, different key bytes
    reset_key_caches()
    error = _assert_refused(lambda: _fresh(note).body, table_column="secretnote.body")
    assert "m1" in str(error)


def test_a_missing_master_key_is_named_in_the_error(world, settings):
    settings.MASTER_KEYS = master_entry("m1")
    reset_key_caches()
    note = _note(world.a, body=SECRET)
    settings.MASTER_KEYS = master_entry("m2")
    reset_key_caches()
    error = _assert_refused(lambda: _fresh(note).body, table_column="secretnote.body")
    assert "'m1' is not configured" in str(error)
    assert "HEROSHHI_MASTER_KEYS" in str(error)
