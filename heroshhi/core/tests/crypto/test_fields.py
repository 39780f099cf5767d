"""Encrypted model fields: what reaches the database, what comes back, what is refused."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core import checks
from django.db import models, transaction
from django.test.utils import isolate_apps
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from heroshhi.core.crypto import (
    CIPHERTEXT_PREFIX,
    EncryptedJSONField,
    EncryptedLookupError,
    EncryptedTextField,
)
from heroshhi.core.crypto import fields as crypto_fields
from heroshhi.core.tenancy import workspace_scope
from heroshhi.core.tests.crypto.conftest import raw_row
from heroshhi.core.tests.crypto.testapp.models import SecretNote, WorkspaceProfile

pytestmark = pytest.mark.django_db

SECRET = "Priya Sharma, +91 98765 43210, owes ₹12,000"


def _note(workspace, **values) -> SecretNote:
    note = SecretNote(workspace=workspace, **values)
    note.save()
    return note


def _reload(note: SecretNote) -> SecretNote:
    return SecretNote.objects.unscoped().get(pk=note.pk)


def test_the_database_row_holds_only_prefixed_ciphertext(world):
    note = _note(world.a, subject="Call back", body=SECRET, payload={"city": SECRET})
    row = raw_row(SecretNote, note.pk)
    for column in ("subject", "body", "payload"):
        assert row[column].startswith(CIPHERTEXT_PREFIX)
    flat = repr(row)
    for fragment in ("Priya", "98765", "Call back", SECRET, "12,000"):
        assert fragment not in flat


def test_the_same_plaintext_encrypts_differently_each_time(world):
    first = _note(world.a, body=SECRET)
    second = _note(world.a, body=SECRET)
    assert raw_row(SecretNote, first.pk)["body"] != raw_row(SecretNote, second.pk)["body"]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(max_size=300))
@example(text="नमस्ते, मेरा नंबर ९८७६५४३२१० है 🙏🏽")
@example(text="👩‍👩‍👧‍👦 émoji + ZWJ")
@example(text="")
def test_any_text_round_trips_through_the_database(world, text):
    note = _note(world.a, body=text)
    assert _reload(note).body == text


def test_json_documents_round_trip(world):
    document = {"नाम": "अनीता", "tags": ["vip", "🚀"], "score": 9.5, "ok": True, "n": None}
    note = _note(world.a, payload=document)
    assert _reload(note).payload == document


def test_none_stays_null(world):
    note = _note(world.a, body=None, payload=None)
    row = raw_row(SecretNote, note.pk)
    assert row["body"] is None
    assert row["payload"] is None
    reloaded = _reload(note)
    assert reloaded.body is None
    assert reloaded.payload is None


def test_values_are_decrypted_lazily_and_once(world):
    note = _note(world.a, body=SECRET, subject="hi")
    with mock.patch.object(
        crypto_fields, "decrypt_value", wraps=crypto_fields.decrypt_value
    ) as decrypt:
        reloaded = _reload(note)
        assert decrypt.call_count == 0
        assert reloaded.body == SECRET
        assert reloaded.body == SECRET
        assert decrypt.call_count == 1


def test_deferred_encrypted_fields_load_and_decrypt_on_access(world):
    note = _note(world.a, body=SECRET)
    deferred = SecretNote.objects.unscoped().defer("body").get(pk=note.pk)
    assert deferred.body == SECRET


def test_editing_a_loaded_row_re_encrypts_it(world):
    note = _reload(_note(world.a, body=SECRET))
    note.body = "updated"
    note.save()
    assert _reload(note).body == "updated"
    assert "updated" not in raw_row(SecretNote, note.pk)["body"]


def test_model_validation_sees_plaintext(world):
    with workspace_scope(world.a):
        note = SecretNote(workspace=world.a, body=SECRET, subject="s", payload={"a": 1})
        note.full_clean()
        note.save()
        loaded = SecretNote.objects.get(pk=note.pk)
        loaded.full_clean()
    assert loaded.body == SECRET


def test_bulk_create_encrypts_every_row(world):
    notes = SecretNote.objects.unscoped().bulk_create(
        [SecretNote(workspace=world.a, body=f"secret {i}") for i in range(3)]
    )
    for i, note in enumerate(notes):
        assert raw_row(SecretNote, note.pk)["body"].startswith(CIPHERTEXT_PREFIX)
        assert _reload(note).body == f"secret {i}"


def test_a_row_that_is_its_own_workspace_encrypts_under_that_workspace(world):
    profile = WorkspaceProfile(id=world.a.pk, billing_contact="accounts@alpha.example")
    profile.save()
    assert raw_row(WorkspaceProfile, profile.pk)["billing_contact"].startswith(CIPHERTEXT_PREFIX)
    reloaded = WorkspaceProfile.objects.get(pk=world.a.pk)
    assert reloaded.billing_contact == "accounts@alpha.example"


@pytest.mark.parametrize(
    "lookup",
    [
        {"body": SECRET},
        {"body__exact": SECRET},
        {"body__iexact": SECRET},
        {"body__contains": SECRET},
        {"body__icontains": SECRET},
        {"body__in": [SECRET, "y"]},
        {"body__startswith": SECRET},
        {"body__gt": SECRET},
        {"body__regex": SECRET},
        {"body__lower": SECRET},
        {"payload__city": SECRET},
        {"payload": {"city": SECRET}},
    ],
)
def test_lookups_on_encrypted_fields_raise_instead_of_matching_nothing(world, lookup):
    with pytest.raises(EncryptedLookupError, match="blind index") as caught:
        SecretNote.objects.unscoped().filter(**lookup)
    assert isinstance(caught.value, TypeError)
    assert "Priya" not in str(caught.value)


def test_exclude_and_get_on_encrypted_fields_raise_too(world):
    with pytest.raises(EncryptedLookupError):
        SecretNote.objects.unscoped().exclude(body=SECRET)
    with pytest.raises(EncryptedLookupError):
        SecretNote.objects.unscoped().get(body=SECRET)


def test_isnull_and_equals_none_still_work(world):
    _note(world.a, body=None)
    _note(world.a, body=SECRET)
    notes = SecretNote.objects.unscoped()
    assert notes.filter(body__isnull=True).count() == 1
    assert notes.filter(body__isnull=False).count() == 1
    assert notes.filter(body=None).count() == 1
    assert notes.exclude(body=None).count() == 1


def test_queryset_update_refuses_plaintext_without_echoing_it(world):
    note = _note(world.a, body="old")
    with pytest.raises(TypeError, match=r"Model\.save\(\)") as caught:
        SecretNote.objects.unscoped().filter(pk=note.pk).update(body=SECRET)
    assert SECRET not in str(caught.value)


def test_bulk_update_refuses_plaintext(world):
    note = _reload(_note(world.a, body="old"))
    note.body = SECRET
    with pytest.raises(TypeError), transaction.atomic():
        SecretNote.objects.unscoped().bulk_update([note], ["body"])
    assert _reload(note).body == "old"


def test_a_row_without_primary_key_or_workspace_cannot_be_encrypted(world):
    body = SecretNote._meta.get_field("body")
    keyless = SecretNote(workspace=world.a)
    keyless.pk = None
    with pytest.raises(ValueError, match="primary key") as caught:
        body.seal(keyless, SECRET)
    assert SECRET not in str(caught.value)
    homeless = SecretNote(body=SECRET)
    with pytest.raises(ValueError, match="workspace") as caught:
        homeless.save()
    assert SECRET not in str(caught.value)


@isolate_apps("heroshhi.core.tests.crypto.testapp")
def test_system_checks_reject_unsearchable_or_unkeyed_setups():
    class Misconfigured(models.Model):
        workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE)
        email = EncryptedTextField(unique=True)
        notes = EncryptedJSONField(workspace_field="owner")

        class Meta:
            app_label = "crypto_testapp"

        def __str__(self) -> str:
            return "misconfigured"

    ids = {
        message.id
        for field in (
            Misconfigured._meta.get_field("email"),
            Misconfigured._meta.get_field("notes"),
        )
        for message in field.check()
        if isinstance(message, checks.Error)
    }
    assert {
        "heroshhi_crypto.E001",  # unique on ciphertext
        "heroshhi_crypto.E002",  # auto-increment pk is unknown before the INSERT
        "heroshhi_crypto.E003",  # no field named "owner"
        "heroshhi_crypto.E004",  # two different workspace fields
    } <= ids


def test_the_real_models_pass_the_system_checks():
    for model in (SecretNote, WorkspaceProfile):
        for field in crypto_fields.encrypted_fields_of(model):
            assert field.check() == []


def test_fields_survive_a_migration_round_trip():
    field = EncryptedTextField(null=True, workspace_field=None)
    _, path, args, kwargs = field.deconstruct()
    assert path == "heroshhi.core.crypto.fields.EncryptedTextField"
    rebuilt = EncryptedTextField(*args, **kwargs)
    assert rebuilt.workspace_field is None
    assert rebuilt.null is True
