"""What a restore refuses, with the reason and a non-zero exit, before it touches anything:
a damaged or truncated archive, the wrong backup key, a key the data needs that is not
configured, an archive of a newer version, and a target that is not empty."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heroshhi.core.actors import Actor
from heroshhi.core.backup import create
from heroshhi.core.backup.archive import backup_key_fingerprint
from heroshhi.core.crypto.keys import master_key_ids_in_use
from heroshhi.core.tests.crypto.conftest import master_entry
from heroshhi.leads.services.leads import lead_create
from heroshhi.workspaces.permissions import Role

# A real commit for pg_dump, which reads from another process.
pytestmark = pytest.mark.django_db(transaction=True)

DAMAGED = "the archive is damaged, truncated or was altered; refusing to restore from it"


@pytest.fixture
def archive(world, var_dir, tmp_path) -> Path:
    """A backup of the world with one encrypted lead (so workspace keys exist)."""
    lead_create(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=Role.OWNER),
        name="Priya Raghunathan",
        phone="+919876543210",
        email=None,
        source="manual",
    )
    output = io.StringIO()
    call_command("backup", str(tmp_path), stdout=output)
    return Path(json.loads(output.getvalue())["archive"])


def _restore(archive: Path, *flags: str) -> None:
    call_command("restore", str(archive), *flags, stdout=io.StringIO())


@pytest.mark.parametrize(
    "position",
    [lambda size: size // 2, lambda size: size - 1],
    ids=["a byte inside", "the last byte"],
)
def test_a_changed_byte_is_refused(archive, position):
    stored = bytearray(archive.read_bytes())
    stored[position(len(stored))] ^= 0x01
    archive.write_bytes(bytes(stored))

    with pytest.raises(CommandError, match=DAMAGED):
        _restore(archive)


def test_a_changed_header_is_refused(archive):
    # The header is in the clear but bound into every chunk.
    stored = archive.read_bytes()
    archive.write_bytes(stored.replace(b'"created_at":"2', b'"created_at":"3', 1))

    with pytest.raises(CommandError, match=DAMAGED):
        _restore(archive)


def test_an_archive_of_another_format_is_refused(archive):
    stored = archive.read_bytes()
    archive.write_bytes(stored.replace(b'"format":1', b'"format":2', 1))

    with pytest.raises(CommandError, match="format 2; this version of the app reads format 1"):
        _restore(archive)


@pytest.mark.parametrize("cut", [1, 100_000], ids=["one byte", "a large tail"])
def test_a_truncated_archive_is_refused(archive, cut):
    stored = archive.read_bytes()
    archive.write_bytes(stored[: len(stored) - cut])

    with pytest.raises(CommandError, match=DAMAGED):
        _restore(archive)


def test_something_that_is_not_an_archive_is_refused(archive):
    archive.write_bytes(b"PK\x03\x04 not an archive")

    with pytest.raises(CommandError, match="is not a Heroshhi backup archive"):
        _restore(archive)


def test_the_wrong_backup_key_is_refused_naming_both_fingerprints(archive, settings):
    made_with = backup_key_fingerprint(settings.BACKUP_KEY)
    settings.BACKUP_KEY = "another-backup-key-of-enough-length-0123456789"

    with pytest.raises(CommandError) as refused:
        _restore(archive)

    message = str(refused.value)
    assert made_with in message
    assert backup_key_fingerprint(settings.BACKUP_KEY) in message
    assert "HEROSHHI_BACKUP_KEY" in message
    assert settings.BACKUP_KEY not in message


def test_a_missing_master_key_is_refused_naming_it(archive, settings):
    (needed,) = master_key_ids_in_use()
    settings.MASTER_KEYS = master_entry("mk-another")

    with pytest.raises(
        CommandError, match=f"master key {needed} is not configured: the data cannot be decrypted"
    ):
        _restore(archive, "--force")


def test_other_bytes_under_the_master_key_id_are_refused(archive, settings):
    (needed,) = master_key_ids_in_use()
    settings.MASTER_KEYS = master_entry(needed)

    with pytest.raises(CommandError, match=f"master key {needed} is configured with other"):
        _restore(archive, "--force")


def test_a_different_audit_key_is_refused(archive, settings):
    settings.AUDIT_HMAC_KEY = "an-audit-key-this-deployment-never-used"

    with pytest.raises(CommandError, match="the audit chain cannot be verified"):
        _restore(archive, "--force")


def test_an_archive_of_a_newer_version_is_refused(world, var_dir, tmp_path, monkeypatch):
    real_heads = create.migration_heads
    monkeypatch.setattr(
        create,
        "migration_heads",
        lambda connection: {**real_heads(connection), "core": ["9999_from_the_future"]},
    )
    call_command("backup", str(tmp_path), stdout=io.StringIO())
    (archive,) = tmp_path.glob("*.hxb")

    with pytest.raises(CommandError, match=r"newer version of the app .*core\.9999_from_the"):
        _restore(archive, "--force")


def test_a_target_that_is_not_empty_is_refused_without_force(archive):
    with pytest.raises(CommandError, match=r"The target is not empty \(database .* has \d+ tables"):
        _restore(archive)


def test_without_a_backup_key_nothing_is_made_or_restored(archive, settings, tmp_path):
    settings.BACKUP_KEY = ""

    with pytest.raises(CommandError, match=r"HEROSHHI_BACKUP_KEY .* is not set"):
        call_command("backup", str(tmp_path / "another.hxb"), stdout=io.StringIO())
    with pytest.raises(CommandError, match=r"HEROSHHI_BACKUP_KEY .* is not set"):
        _restore(archive)
    assert not (tmp_path / "another.hxb").exists()


def test_a_backup_never_overwrites_a_file(archive):
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", str(archive), stdout=io.StringIO())
