"""ColumnCipher: the bulk path opens exactly what the field seals, and the field opens
what the bulk path seals, under the same row, column and workspace binding."""

from __future__ import annotations

import pytest

from heroshhi.core.actors import Actor
from heroshhi.core.crypto import (
    CIPHERTEXT_PREFIX,
    DecryptionError,
    EncryptedField,
    decrypt_value,
)
from heroshhi.core.crypto.columns import ColumnCipher
from heroshhi.core.crypto.keys import create_key_version
from heroshhi.core.tests.crypto.conftest import raw_row, write_raw
from heroshhi.core.tests.crypto.testapp.models import SecretNote
from heroshhi.workspaces.keys import workspace_keys_destroy

pytestmark = pytest.mark.django_db

SECRET = "Anjali Nair, +91 98765 43210"
DOCUMENT = {"city": "Kochi", "budget": 12000, "नोट": "हाँ"}


def _cipher(name: str, workspace) -> ColumnCipher:
    field = SecretNote._meta.get_field(name)
    assert isinstance(field, EncryptedField)
    return ColumnCipher.for_field(field, workspace.pk)


def _note(workspace, **values) -> SecretNote:
    note = SecretNote(workspace=workspace, **values)
    note.save()
    return note


def _stored(note: SecretNote, column: str) -> str:
    return raw_row(SecretNote, note.pk)[column]


def test_it_opens_what_the_field_sealed(world):
    note = _note(world.a, body=SECRET, payload=DOCUMENT)
    body = _cipher("body", world.a)
    assert body.open(_stored(note, "body"), note.pk) == SECRET
    assert _cipher("payload", world.a).open(_stored(note, "payload"), note.pk) == DOCUMENT
    # The row id may come as the UUID or as its text.
    assert body.open(_stored(note, "body"), str(note.pk)) == SECRET
    assert body.open(None, note.pk) is None


def test_the_field_opens_what_it_sealed(world):
    note = _note(world.a, body="placeholder", payload={"x": 1})
    body = _cipher("body", world.a)
    sealed_body = body.seal(SECRET, note.pk)
    assert sealed_body is not None
    assert sealed_body.startswith(CIPHERTEXT_PREFIX)
    assert "Anjali" not in sealed_body
    write_raw(SecretNote, note.pk, "body", sealed_body)
    write_raw(SecretNote, note.pk, "payload", _cipher("payload", world.a).seal(DOCUMENT, note.pk))
    fresh = SecretNote.objects.unscoped().get(pk=note.pk)
    assert (fresh.body, fresh.payload) == (SECRET, DOCUMENT)
    assert decrypt_value(sealed_body, context=body.context(note.pk)) == SECRET.encode()
    assert body.seal(None, note.pk) is None


def test_a_value_moved_to_another_row_does_not_open(world):
    victim = _note(world.a, body=SECRET)
    other = _note(world.a, body="harmless")
    with pytest.raises(DecryptionError) as caught:
        _cipher("body", world.a).open(_stored(victim, "body"), other.pk)
    assert "secretnote.body" in str(caught.value)
    assert "Anjali" not in str(caught.value)


def test_a_value_moved_to_another_column_does_not_open(world):
    note = _note(world.a, body=SECRET, subject="harmless")
    with pytest.raises(DecryptionError):
        _cipher("subject", world.a).open(_stored(note, "body"), note.pk)
    # And what the cipher seals for one column does not open in another through the field.
    write_raw(SecretNote, note.pk, "subject", _cipher("body", world.a).seal(SECRET, note.pk))
    with pytest.raises(DecryptionError):
        _ = SecretNote.objects.unscoped().get(pk=note.pk).subject


def test_a_value_of_another_workspace_does_not_open(world):
    note = _note(world.a, body=SECRET)
    with pytest.raises(DecryptionError, match="another workspace"):
        _cipher("body", world.b).open(_stored(note, "body"), note.pk)


def test_tampered_or_malformed_values_are_refused(world):
    note = _note(world.a, body=SECRET)
    stored = _stored(note, "body")
    body = _cipher("body", world.a)
    flipped = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    for bad in (flipped, "hx1:!!!", "hx1:AAAA", SECRET):
        with pytest.raises(DecryptionError):
            body.open(bad, note.pk)


def test_values_under_an_older_key_still_open_and_new_ones_use_the_current_key(world):
    old = _note(world.a, body=SECRET)
    create_key_version(world.a.pk, "data")
    new = _note(world.a, body="after rotation")
    body = _cipher("body", world.a)
    assert body.open(_stored(old, "body"), old.pk) == SECRET
    assert body.open(_stored(new, "body"), new.pk) == "after rotation"
    sealed = body.seal("fresh", new.pk)
    assert sealed is not None
    assert sealed[:16] == _stored(new, "body")[:16]  # same header: the current key


def test_destroyed_keys_stop_a_new_cipher(world):
    note = _note(world.a, body=SECRET)
    stored = _stored(note, "body")
    workspace_keys_destroy(workspace=world.a, actor=Actor.system())
    with pytest.raises(DecryptionError):
        _cipher("body", world.a).open(stored, note.pk)
