"""Chunked AES-256-GCM streams: the framing shared by encrypted files and backup archives.

A stream is a run of chunks after a header its owner writes::

    chunk = length of what follows (4 bytes, big endian) | nonce (12) | ciphertext + tag

Each chunk seals up to ``chunk_bytes`` of plaintext. Its additional authenticated data comes
from the owner's ``aad(index, last)``, which must bind the header, the chunk's position and
whether it is the last one: then chunks cannot be reordered, dropped, moved to another stream
or cut off at a chunk boundary without the reader noticing. Memory stays at one chunk
whatever the stream's size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import BinaryIO, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from heroshhi.core.crypto.errors import DecryptionError

NONCE_BYTES = 12
TAG_BYTES = 16
_LENGTH = struct.Struct(">I")

ChunkAad = Callable[[int, bool], bytes]


class SealedChunkWriter:
    """A write-only stream that seals what is written to ``raw``, chunk by chunk. Closing it
    seals the last chunk, possibly empty (it does not close ``raw``). ``plaintext_bytes``
    counts what was written. It cannot seek, so a zip archive written through it uses data
    descriptors."""

    def __init__(self, raw: BinaryIO, *, aead: AESGCM, aad: ChunkAad, chunk_bytes: int) -> None:
        self._raw = raw
        self._aead = aead
        self._aad = aad
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        self.plaintext_bytes = 0

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed encrypted stream")
        self._buffer += data
        self.plaintext_bytes += len(data)
        # Strictly more than a chunk: the last chunk is sealed only at close, so a stream
        # whose size is a multiple of the chunk still ends with a chunk marked last.
        while len(self._buffer) > self._chunk_bytes:
            self._seal(bytes(self._buffer[: self._chunk_bytes]), last=False)
            del self._buffer[: self._chunk_bytes]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: a chunk is sealed only once full (or at close)."""

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, self._aad(self._index, last))
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


def opened_chunks(
    raw: BinaryIO, *, aead: AESGCM, aad: ChunkAad, chunk_bytes: int, name: str
) -> Iterator[bytes]:
    """The plaintext of a stream written by ``SealedChunkWriter`` (``raw`` positioned after
    the header), chunk by chunk. ``DecryptionError`` naming ``name`` as soon as anything does
    not authenticate, the end included."""

    def broken(reason: str) -> DecryptionError:
        return DecryptionError(f"{name} cannot be read ({reason})")

    index = 0
    sealed = _read_chunk(raw, chunk_bytes=chunk_bytes, broken=broken)
    if sealed is None:
        raise broken("no content")
    while sealed is not None:
        following = _read_chunk(raw, chunk_bytes=chunk_bytes, broken=broken)
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            yield aead.decrypt(nonce, ciphertext, aad(index, following is None))
        except InvalidTag:
            raise broken(f"chunk {index} does not authenticate") from None
        sealed, index = following, index + 1


def _read_chunk(
    raw: BinaryIO, *, chunk_bytes: int, broken: Callable[[str], DecryptionError]
) -> bytes | None:
    prefix = raw.read(_LENGTH.size)
    if not prefix:
        return None
    if len(prefix) != _LENGTH.size:
        raise broken("cut inside a chunk length")
    (length,) = _LENGTH.unpack(prefix)
    if not NONCE_BYTES + TAG_BYTES <= length <= NONCE_BYTES + chunk_bytes + TAG_BYTES:
        raise broken("a chunk of an impossible size")
    sealed = raw.read(length)
    if len(sealed) != length:
        raise broken("cut inside a chunk")
    return sealed
