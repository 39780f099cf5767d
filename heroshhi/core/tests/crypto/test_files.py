"""Encrypted files: what was written reads back, and nothing else does."""

from __future__ import annotations

import io
import struct

import pytest

from heroshhi.core.actors import Actor
from heroshhi.core.crypto import DecryptionError, files
from heroshhi.core.crypto.files import EncryptedFileWriter, decrypted_chunks
from heroshhi.workspaces.keys import workspace_keys_destroy

pytestmark = pytest.mark.django_db

LABEL = "workspace_export:test"
CONTENT = b"name,phone\nPriya Raghunathan,+919812345678\n" * 5


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(files, "CHUNK_BYTES", 64)


def _sealed(workspace, content: bytes = CONTENT) -> bytes:
    raw = io.BytesIO()
    with EncryptedFileWriter(raw, workspace_id=workspace.pk, label=LABEL) as writer:
        for start in range(0, len(content), 50):  # writes that straddle chunk boundaries
            writer.write(content[start : start + 50])
    assert writer.plaintext_bytes == len(content)
    return raw.getvalue()


def _read(stored: bytes, workspace, label: str = LABEL) -> bytes:
    return b"".join(decrypted_chunks(io.BytesIO(stored), workspace_id=workspace.pk, label=label))


def _chunks(stored: bytes) -> tuple[bytes, list[bytes]]:
    header, rest, chunks = stored[:12], stored[12:], []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        chunks.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return header, chunks


def test_what_was_written_reads_back_chunk_by_chunk(world):
    stored = _sealed(world.a)

    assert b"Priya" not in stored
    assert b"+9198" not in stored
    _header, chunks = _chunks(stored)
    assert len(chunks) == 4  # 215 bytes in chunks of 64
    assert _read(stored, world.a) == CONTENT
    assert _read(_sealed(world.a, b""), world.a) == b""


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda h, c: h + b"".join(c[:-1]), id="last chunk cut off"),
        pytest.param(lambda h, c: h + c[1] + c[0] + b"".join(c[2:]), id="chunks swapped"),
        pytest.param(
            lambda h, c: h + b"".join(c)[:-1] + bytes([b"".join(c)[-1] ^ 1]), id="a bit flipped"
        ),
        pytest.param(lambda h, c: h + b"".join(c)[:-5], id="cut inside a chunk"),
        pytest.param(lambda h, c: b"PK\x03\x04" + h[4:] + b"".join(c), id="not our file"),
    ],
)
def test_a_damaged_file_does_not_read(world, damage):
    header, chunks = _chunks(_sealed(world.a))

    with pytest.raises(DecryptionError):
        _read(damage(header, chunks), world.a)


def test_a_file_reads_only_as_itself_in_its_own_workspace(world):
    stored = _sealed(world.a)

    with pytest.raises(DecryptionError):
        _read(stored, world.a, label="workspace_export:another")
    with pytest.raises(DecryptionError):
        _read(stored, world.b)


def test_destroying_the_workspace_keys_makes_the_file_unreadable(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the key counts as committed
        stored = _sealed(world.a)

    workspace_keys_destroy(workspace=world.a, actor=Actor.system())

    with pytest.raises(DecryptionError):
        _read(stored, world.a)
