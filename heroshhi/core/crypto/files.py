"""Files encrypted at rest with a workspace's data key (an export waiting to be downloaded).

Layout::

    MAGIC (4 bytes) | key id (8 bytes) | chunk | chunk | …
    chunk = length of what follows (4 bytes, big endian) | nonce (12) | ciphertext + tag

Each chunk holds up to ``CHUNK_BYTES`` of plaintext. Its additional authenticated data binds
the header, the workspace, a label naming the file (``workspace_export:<id>``), the chunk's
position and whether it is the last one, so chunks cannot be reordered, moved to another
file, or cut off at a chunk boundary without the reader noticing. Written and read as
streams: memory stays at one chunk whatever the file's size. Destroying the workspace's
keys makes the file unreadable, like every other ciphertext of the workspace.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO, Self

from cryptography.exceptions import InvalidTag

from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.keys import KEY_ID_BYTES, canonical_workspace_id, data_key, key_by_id

MAGIC = b"HXF1"
CHUNK_BYTES = 1 << 20
_NONCE_BYTES = 12
_LENGTH = struct.Struct(">I")
_AAD_LABEL = b"heroshhi/file/v1|"


def _aad(header: bytes, workspace_id: str, label: str, index: int, *, last: bool) -> bytes:
    parts = (workspace_id, label, str(index), "last" if last else "more")
    return _AAD_LABEL + header + "".join(f"{len(p)}:{p}," for p in parts).encode("utf-8")


class EncryptedFileWriter:
    """A write-only stream that encrypts what is written to ``raw``, chunk by chunk. Closing
    it seals the last chunk (it does not close ``raw``). ``plaintext_bytes`` counts what was
    written. It cannot seek, so a zip archive written through it uses data descriptors."""

    def __init__(self, raw: BinaryIO, *, workspace_id: uuid.UUID | str, label: str) -> None:
        self._raw = raw
        self._workspace_id = canonical_workspace_id(workspace_id)
        self._label = label
        self._key = data_key(self._workspace_id)
        self._header = MAGIC + self._key.key_id_bytes
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        self.plaintext_bytes = 0
        raw.write(self._header)

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed encrypted file")
        self._buffer += data
        self.plaintext_bytes += len(data)
        while len(self._buffer) > CHUNK_BYTES:
            self._seal(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: a chunk is sealed only once full (or at close)."""

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        nonce = os.urandom(_NONCE_BYTES)
        aad = _aad(self._header, self._workspace_id, self._label, self._index, last=last)
        sealed = nonce + self._key.aead.encrypt(nonce, plaintext, aad)
        self._raw.write(_LENGTH.pack(len(sealed)) + sealed)
        self._index += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()


def decrypted_chunks(
    raw: BinaryIO, *, workspace_id: uuid.UUID | str, label: str
) -> Iterator[bytes]:
    """The plaintext of a file written by ``EncryptedFileWriter``, chunk by chunk.
    ``DecryptionError`` as soon as anything does not authenticate, the end included."""
    workspace = canonical_workspace_id(workspace_id)

    def broken(reason: str) -> DecryptionError:
        return DecryptionError(f"encrypted file {label} cannot be read ({reason})")

    header = raw.read(len(MAGIC) + KEY_ID_BYTES)
    if len(header) != len(MAGIC) + KEY_ID_BYTES or not header.startswith(MAGIC):
        raise broken("not an encrypted file")
    key = key_by_id(header[len(MAGIC) :].hex())
    if key.workspace_id != workspace:
        raise broken("another workspace's key")
    index = 0
    sealed = _read_chunk(raw)
    if sealed is None:
        raise broken("no content")
    while sealed is not None:
        following = _read_chunk(raw)
        aad = _aad(header, workspace, label, index, last=following is None)
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            yield key.aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise broken(f"chunk {index} does not authenticate") from None
        sealed, index = following, index + 1


def _read_chunk(raw: BinaryIO) -> bytes | None:
    prefix = raw.read(_LENGTH.size)
    if not prefix:
        return None
    if len(prefix) != _LENGTH.size:
        raise DecryptionError("encrypted file cut inside a chunk length")
    (length,) = _LENGTH.unpack(prefix)
    if not _NONCE_BYTES + 16 <= length <= _NONCE_BYTES + CHUNK_BYTES + 16:
        raise DecryptionError("encrypted file has a chunk of an impossible size")
    sealed = raw.read(length)
    if len(sealed) != length:
        raise DecryptionError("encrypted file cut inside a chunk")
    return sealed
