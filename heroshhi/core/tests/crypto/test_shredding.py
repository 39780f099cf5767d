"""Destroying a workspace's keys makes its data unreadable and nobody else's."""

from __future__ import annotations

import pytest

from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import DecryptionError, blind_index, keys
from heroshhi.core.models import WorkspaceKey
from heroshhi.core.tests.crypto.testapp.models import SecretNote, WorkspaceProfile
from heroshhi.workspaces.keys import workspace_keys_destroy

pytestmark = pytest.mark.django_db


def _note(workspace, body: str) -> SecretNote:
    note = SecretNote(workspace=workspace, body=body, payload={"body": body})
    note.save()
    return note


def test_destroyed_workspace_keys_make_its_rows_unreadable_while_others_still_read(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # keys count as committed
        alpha = _note(world.a, "alpha secret")
        beta = _note(world.b, "beta secret")
        WorkspaceProfile.objects.create(id=world.a.pk, billing_contact="alpha billing")
        blind_index(world.a.pk, "email", "a@alpha.example")
    assert SecretNote.objects.unscoped().get(pk=alpha.pk).body == "alpha secret"
    alpha_key = keys.data_key(world.a.pk)
    assert keys._cache.by_id(alpha_key.key_id) is alpha_key  # the cache is warm

    deleted = workspace_keys_destroy(workspace=world.a, actor=Actor.system())

    assert deleted == 2  # data + index
    receipt = AuditEvent.objects.get(action="workspace_keys_destroyed")
    assert receipt.chain == "platform"
    assert receipt.target_id == str(world.a.pk)
    assert not WorkspaceKey.objects.filter(workspace=world.a).exists()
    stored = SecretNote.objects.unscoped().get(pk=alpha.pk)
    for attribute in ("body", "payload"):
        with pytest.raises(DecryptionError, match="unknown or destroyed") as caught:
            getattr(stored, attribute)
        assert "alpha secret" not in str(caught.value)
    with pytest.raises(DecryptionError):
        _ = WorkspaceProfile.objects.get(pk=world.a.pk).billing_contact
    assert SecretNote.objects.unscoped().get(pk=beta.pk).body == "beta secret"


def test_shredding_applies_to_instances_already_loaded(world):
    alpha = _note(world.a, "alpha secret")
    loaded = SecretNote.objects.unscoped().get(pk=alpha.pk)  # still sealed, not yet read
    workspace_keys_destroy(workspace=world.a, actor=Actor.system())
    with pytest.raises(DecryptionError):
        _ = loaded.body


def test_deleting_a_workspace_deletes_its_keys(world):
    _note(world.a, "alpha secret")
    _note(world.b, "beta secret")
    alpha_id = world.a.pk
    world.a.delete()
    assert not WorkspaceKey.objects.filter(workspace_id=alpha_id).exists()
    assert WorkspaceKey.objects.filter(workspace=world.b).count() == 1
