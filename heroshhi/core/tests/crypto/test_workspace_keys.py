"""Workspace keys: created lazily and once, cached briefly, never cached when rolled back."""

from __future__ import annotations

import pytest
from django.db import transaction

from heroshhi.core.crypto import keys
from heroshhi.core.crypto.keys import (
    data_key,
    index_key,
    invalidate_workspace_keys,
    key_by_id,
)
from heroshhi.core.models import WorkspaceKey
from heroshhi.core.tests.crypto.testapp.models import SecretNote

pytestmark = pytest.mark.django_db


def test_keys_are_created_on_first_use_and_only_once(world):
    assert not WorkspaceKey.objects.exists()
    for i in range(3):
        SecretNote(workspace=world.a, body=f"note {i}").save()
    first = data_key(world.a.pk)
    assert data_key(world.a.pk).key_id == first.key_id
    index_key(world.a.pk)
    rows = WorkspaceKey.objects.filter(workspace=world.a)
    assert sorted(rows.values_list("purpose", "version", "state")) == [
        ("data", 1, "active"),
        ("index", 1, "active"),
    ]
    assert all(len(row.key_id) == 16 for row in rows)
    assert not WorkspaceKey.objects.filter(workspace=world.b).exists()


def test_a_racing_creator_reads_the_winners_key(world, monkeypatch):
    """Two processes both see no key; the unique constraint lets the first one win."""
    winner: list[keys.WorkspaceKeyMaterial] = []
    real_key_rows = keys._key_rows

    def first_look_misses_the_other_process(workspace_id, purpose):
        if not winner:
            winner.append(keys._insert_version(workspace_id, purpose, 1))
            return []
        return real_key_rows(workspace_id, purpose)

    monkeypatch.setattr(keys, "_key_rows", first_look_misses_the_other_process)
    loser = data_key(world.a.pk)
    assert loser.key_id == winner[0].key_id
    assert WorkspaceKey.objects.filter(workspace=world.a).count() == 1


def test_wrapped_keys_hold_no_raw_key_material(world):
    key = data_key(world.a.pk)
    row = WorkspaceKey.objects.get(key_id=key.key_id)
    assert key._secret not in bytes(row.wrapped)
    assert len(bytes(row.wrapped)) == 12 + 32 + 16  # nonce + key + tag
    assert "secret" not in repr(key).lower()


def test_committed_keys_are_served_from_memory(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = data_key(world.a.pk)
    loaded = data_key(world.a.pk)  # read from the database once, then cached
    WorkspaceKey.objects.all().delete()  # behind the cache's back
    assert data_key(world.a.pk) is loaded
    assert key_by_id(created.key_id) is loaded


def test_the_cache_expires_within_five_minutes(
    world, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WORKSPACE_KEY_CACHE_SECONDS = 3600  # asking for more is capped
    clock = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    with django_capture_on_commit_callbacks(execute=True):
        data_key(world.a.pk)
    cached = data_key(world.a.pk)
    clock[0] += 299
    assert data_key(world.a.pk) is cached
    clock[0] += 2
    assert data_key(world.a.pk) is not cached


def test_invalidation_drops_a_workspaces_keys_at_once(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        data_key(world.a.pk)
        data_key(world.b.pk)
    cached_a, cached_b = data_key(world.a.pk), data_key(world.b.pk)
    invalidate_workspace_keys(world.a.pk)
    assert data_key(world.a.pk) is not cached_a
    assert data_key(world.b.pk) is cached_b


def test_a_key_created_in_a_rolled_back_transaction_is_never_reused(world):
    created: list[keys.WorkspaceKeyMaterial] = []

    @transaction.atomic
    def failing_service() -> None:
        created.append(data_key(world.a.pk))
        assert data_key(world.a.pk).key_id == created[0].key_id  # usable in its transaction
        raise RuntimeError("the service failed after encrypting")

    with pytest.raises(RuntimeError):
        failing_service()
    doomed = created[0]
    assert not WorkspaceKey.objects.filter(key_id=doomed.key_id).exists()
    survivor = data_key(world.a.pk)
    assert survivor.key_id != doomed.key_id
    assert WorkspaceKey.objects.filter(key_id=survivor.key_id).exists()


def test_data_and_index_keys_cannot_be_used_for_each_other(world):
    with pytest.raises(TypeError):
        index_key(world.a.pk).aead  # noqa: B018
    with pytest.raises(TypeError):
        data_key(world.a.pk).mac(b"x")
