"""Files encrypted at rest with a workspace's data key (an export waiting to be downloaded).

Layout::

    MAGIC (4 bytes) | key id (8 bytes) | chunk | chunk | …

The chunks are those of ``streams`` (length-prefixed AES-GCM, up to ``CHUNK_BYTES`` of
plaintext each). Each chunk's additional authenticated data binds the header, the workspace,
a label naming the file (``workspace_export:<id>``), the chunk's position and whether it is
the last one, so chunks cannot be reordered, moved to another file, or cut off at a chunk
boundary without the reader noticing. Written and read as streams: memory stays at one chunk
whatever the file's size. Destroying the workspace's keys makes the file unreadable, like
every other ciphertext of the workspace.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import BinaryIO

from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.keys import KEY_ID_BYTES, canonical_workspace_id, data_key, key_by_id
from heroshhi.core.crypto.streams import ChunkAad, SealedChunkWriter, opened_chunks

MAGIC = b"HXF1"
CHUNK_BYTES = 1 << 20
_AAD_LABEL = b"heroshhi/file/v1|"


def _chunk_aad(header: bytes, workspace_id: str, label: str) -> ChunkAad:
    def aad(index: int, last: bool) -> bytes:
        parts = (workspace_id, label, str(index), "last" if last else "more")
        return _AAD_LABEL + header + "".join(f"{len(p)}:{p}," for p in parts).encode("utf-8")

    return aad


class EncryptedFileWriter(SealedChunkWriter):
    """A write-only stream that encrypts what is written to ``raw`` with the workspace's
    current data key (see ``SealedChunkWriter``); it writes the header at once."""

    def __init__(self, raw: BinaryIO, *, workspace_id: uuid.UUID | str, label: str) -> None:
        workspace = canonical_workspace_id(workspace_id)
        key = data_key(workspace)
        header = MAGIC + key.key_id_bytes
        raw.write(header)
        super().__init__(
            raw,
            aead=key.aead,
            aad=_chunk_aad(header, workspace, label),
            chunk_bytes=CHUNK_BYTES,
        )


def decrypted_chunks(
    raw: BinaryIO, *, workspace_id: uuid.UUID | str, label: str
) -> Iterator[bytes]:
    """The plaintext of a file written by ``EncryptedFileWriter``, chunk by chunk.
    ``DecryptionError`` as soon as anything does not authenticate, the end included."""
    workspace = canonical_workspace_id(workspace_id)
    name = f"encrypted file {label}"
    header = raw.read(len(MAGIC) + KEY_ID_BYTES)
    if len(header) != len(MAGIC) + KEY_ID_BYTES or not header.startswith(MAGIC):
        raise DecryptionError(f"{name} cannot be read (not an encrypted file)")
    key = key_by_id(header[len(MAGIC) :].hex())
    if key.workspace_id != workspace:
        raise DecryptionError(f"{name} cannot be read (another workspace's key)")
    yield from opened_chunks(
        raw,
        aead=key.aead,
        aad=_chunk_aad(header, workspace, label),
        chunk_bytes=CHUNK_BYTES,
        name=name,
    )
