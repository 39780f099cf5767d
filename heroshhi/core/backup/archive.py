"""The backup archive format: one file, sealed with a key derived from the backup key.

Layout::

    MAGIC (4 bytes) | header length (4, big endian) | header (JSON) | chunk | chunk | …

The header, in the clear, holds only what opening the archive needs: the format version,
the archive's random id, when it was made, the HKDF salt, the chunk size and the backup
key's fingerprint (so a wrong key is named as such). The chunks are those of
``core.crypto.streams``, sealed with ``HKDF-SHA256(backup key, salt, label | archive id)``,
a key of this archive alone; every chunk's additional data binds the whole header, its index
and whether it is the last, so chunks cannot be reordered, dropped, cut off or swapped in
from another archive.

The sealed plaintext is a run of records, ``kind (1 byte) | length (4) | body``::

    P  a part begins: {"name": …, "kind": "database" | "file"}
    D  the part's bytes (up to RECORD_BYTES per record)
    E  the part ends
    M  the manifest (JSON): always the last record; lists every part with its size and
       SHA-256, which the reader checks against what it read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from heroshhi.core.backup.errors import BackupError
from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.fingerprints import key_fingerprint
from heroshhi.core.crypto.streams import SealedChunkWriter, opened_chunks

MAGIC = b"HXB1"
FORMAT_VERSION = 1
CHUNK_BYTES = 1 << 20
RECORD_BYTES = 1 << 20
BACKUP_KEY_PURPOSE = "backup-key"
BACKUP_KEY_VARIABLE = "HEROSHHI_BACKUP_KEY"
DATABASE = "database"
FILE = "file"

_LABEL = b"heroshhi/backup/v1|"
_SALT_BYTES = 32
# Read before anything authenticates, so bounded: a damaged header must not ask for gigabytes.
_MAX_HEADER_BYTES = 64 * 1024
_MAX_CHUNK_BYTES = 16 << 20
_LENGTH = struct.Struct(">I")
_RECORD = struct.Struct(">cI")
_PART, _DATA, _END, _MANIFEST = b"P", b"D", b"E", b"M"


@dataclass(frozen=True)
class PartInfo:
    name: str
    kind: str
    bytes: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "bytes": self.bytes, "sha256": self.sha256}


@dataclass(frozen=True)
class ArchiveHeader:
    archive_id: str
    created_at: str
    salt: bytes
    chunk_bytes: int
    backup_key: str  # the fingerprint, never the key

    def encoded(self) -> bytes:
        text = json.dumps(
            {
                "format": FORMAT_VERSION,
                "archive_id": self.archive_id,
                "created_at": self.created_at,
                "kdf": "hkdf-sha256",
                "salt": base64.b64encode(self.salt).decode("ascii"),
                "chunk_bytes": self.chunk_bytes,
                "backup_key": self.backup_key,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        return MAGIC + _LENGTH.pack(len(text)) + text


def backup_key_fingerprint(backup_key: str) -> str:
    return key_fingerprint(backup_key, purpose=BACKUP_KEY_PURPOSE)


def _archive_aead(backup_key: str, header: ArchiveHeader) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=header.salt,
        info=_LABEL + header.archive_id.encode(),
    ).derive(backup_key.encode())
    return AESGCM(key)


def _chunk_aad(header_bytes: bytes) -> Callable[[int, bool], bytes]:
    def aad(index: int, last: bool) -> bytes:
        return _LABEL + header_bytes + f"|{index}|{'last' if last else 'more'}".encode()

    return aad


class ArchiveWriter:
    """Writes one archive to ``raw``: parts one after another, then the manifest."""

    def __init__(self, raw: BinaryIO, *, backup_key: str, created_at: datetime) -> None:
        self.header = ArchiveHeader(
            archive_id=str(uuid.uuid4()),
            created_at=created_at.isoformat(),
            salt=os.urandom(_SALT_BYTES),
            chunk_bytes=CHUNK_BYTES,
            backup_key=backup_key_fingerprint(backup_key),
        )
        header_bytes = self.header.encoded()
        raw.write(header_bytes)
        self._sealed = SealedChunkWriter(
            raw,
            aead=_archive_aead(backup_key, self.header),
            aad=_chunk_aad(header_bytes),
            chunk_bytes=CHUNK_BYTES,
        )
        self.parts: list[PartInfo] = []
        self._open: tuple[str, str] | None = None
        self._digest = hashlib.sha256()
        self._size = 0

    def _record(self, kind: bytes, body: bytes) -> None:
        self._sealed.write(_RECORD.pack(kind, len(body)))
        self._sealed.write(body)

    def begin_part(self, name: str, kind: str) -> None:
        if self._open is not None:
            raise RuntimeError("a part is already open")
        self._record(_PART, json.dumps({"name": name, "kind": kind}).encode())
        self._open, self._digest, self._size = (name, kind), hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        if self._open is None:
            raise RuntimeError("no part is open")
        self._digest.update(data)
        self._size += len(data)
        for start in range(0, len(data), RECORD_BYTES):
            self._record(_DATA, data[start : start + RECORD_BYTES])

    def end_part(self) -> PartInfo:
        if self._open is None:
            raise RuntimeError("no part is open")
        name, kind = self._open
        self._record(_END, b"")
        part = PartInfo(name=name, kind=kind, bytes=self._size, sha256=self._digest.hexdigest())
        self.parts.append(part)
        self._open = None
        return part

    def finish(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Seal the manifest (with the parts list added) as the last record; returns it."""
        if self._open is not None:
            raise RuntimeError("a part is still open")
        sealed_manifest = {**manifest, "parts": [part.as_json() for part in self.parts]}
        self._record(_MANIFEST, json.dumps(sealed_manifest, sort_keys=True).encode())
        self._sealed.close()
        return sealed_manifest


class PartSink(Protocol):
    """Where a part's bytes go: ``close`` once it has all of them, ``abort`` when the
    archive fails before the part's end."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class _Discard:
    def write(self, data: bytes) -> None:
        """Verification only reads."""

    def close(self) -> None:
        """Nothing was opened."""

    def abort(self) -> None:
        """Nothing was opened."""


def _read_header(raw: BinaryIO, *, source: str) -> tuple[ArchiveHeader, bytes]:
    """The header and its exact bytes (bound into every chunk), or ``BackupError``."""
    start = raw.read(len(MAGIC) + _LENGTH.size)
    if len(start) != len(MAGIC) + _LENGTH.size or not start.startswith(MAGIC):
        raise BackupError(f"{source} is not a Heroshhi backup archive.")
    (length,) = _LENGTH.unpack(start[len(MAGIC) :])
    text = raw.read(length) if length <= _MAX_HEADER_BYTES else b""
    try:
        fields = json.loads(text)
        if fields["format"] != FORMAT_VERSION:
            raise BackupError(
                f"{source} is in backup format {fields['format']}; this version of the app "
                f"reads format {FORMAT_VERSION} only."
            )
        header = ArchiveHeader(
            archive_id=str(uuid.UUID(fields["archive_id"])),
            created_at=str(fields["created_at"]),
            salt=base64.b64decode(fields["salt"], validate=True),
            chunk_bytes=int(fields["chunk_bytes"]),
            backup_key=str(fields["backup_key"]),
        )
    except (ValueError, KeyError, TypeError):
        raise BackupError(
            f"{source} is damaged: its header cannot be read; refusing to restore from it."
        ) from None
    if not 0 < header.chunk_bytes <= _MAX_CHUNK_BYTES or fields.get("kdf") != "hkdf-sha256":
        raise BackupError(f"{source} is damaged: its header is inconsistent.")
    return header, start + text


class ArchiveReader:
    """Reads an archive end to end, handing each part's bytes to a sink and checking every
    part against the manifest. Any damage raises ``BackupError``; nothing is trusted before
    it authenticates, but a sink may have received bytes of an earlier chunk by then, which
    is why a restore verifies the whole archive first (``verify``)."""

    def __init__(self, path: os.PathLike[str] | str, *, backup_key: str) -> None:
        self._path = path
        self._source = str(path)
        self._backup_key = backup_key

    def verify(self) -> tuple[ArchiveHeader, dict[str, Any]]:
        return self.read(lambda name, kind: _Discard())

    def read(
        self, sink_for: Callable[[str, str], PartSink]
    ) -> tuple[ArchiveHeader, dict[str, Any]]:
        try:
            with open(self._path, "rb") as raw:
                header, header_bytes = _read_header(raw, source=self._source)
                expected = backup_key_fingerprint(self._backup_key)
                if header.backup_key != expected:
                    raise BackupError(
                        f"{self._source} was sealed with the backup key of fingerprint "
                        f"{header.backup_key}, but the configured {BACKUP_KEY_VARIABLE} has "
                        f"fingerprint {expected}: configure the key the archive was made with."
                    )
                chunks = opened_chunks(
                    raw,
                    aead=_archive_aead(self._backup_key, header),
                    aad=_chunk_aad(header_bytes),
                    chunk_bytes=header.chunk_bytes,
                    name=self._source,
                )
                manifest, read_parts = _read_records(_Plaintext(chunks), sink_for, self._source)
        except DecryptionError as exc:
            raise BackupError(
                f"{exc}: the archive is damaged, truncated or was altered; "
                "refusing to restore from it."
            ) from None
        except FileNotFoundError:
            raise BackupError(f"{self._source} does not exist.") from None
        listed = [PartInfo(**part) for part in manifest.get("parts", [])]
        if listed != read_parts:
            raise BackupError(
                f"{self._source} does not match its own manifest (parts differ); "
                "refusing to restore from it."
            )
        return header, manifest


class _Plaintext:
    """Exact reads over the decrypted chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._offset = 0

    def read(self, size: int) -> bytes:
        while len(self._buffer) - self._offset < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            # Drop what was read once per chunk, not once per read.
            del self._buffer[: self._offset]
            self._offset = 0
            self._buffer += chunk
        data = bytes(self._buffer[self._offset : self._offset + size])
        self._offset += len(data)
        return data


class _OpenPart:
    """A part being read: where its bytes go, and their running size and digest."""

    def __init__(self, name: str, kind: str, sink: PartSink) -> None:
        self.name, self.kind, self.sink = name, kind, sink
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.sink.write(data)

    def close(self) -> PartInfo:
        self.sink.close()
        return PartInfo(self.name, self.kind, self.size, self.digest.hexdigest())


def _read_records(
    plaintext: _Plaintext, sink_for: Callable[[str, str], PartSink], source: str
) -> tuple[dict[str, Any], list[PartInfo]]:
    def broken(reason: str) -> BackupError:
        return BackupError(f"{source} is damaged ({reason}); refusing to restore from it.")

    parts: list[PartInfo] = []
    current: _OpenPart | None = None
    try:
        while True:
            head = plaintext.read(_RECORD.size)
            if len(head) != _RECORD.size:
                raise broken("it ends before its manifest")
            kind, length = _RECORD.unpack(head)
            body = plaintext.read(length)
            if len(body) != length:
                raise broken("a record is cut short")
            if kind == _PART and current is None:
                described = json.loads(body)
                name, part_kind = str(described["name"]), str(described["kind"])
                current = _OpenPart(name, part_kind, sink_for(name, part_kind))
            elif kind == _DATA and current is not None:
                current.write(body)
            elif kind == _END and current is not None:
                parts.append(current.close())
                current = None
            elif kind == _MANIFEST and current is None:
                if plaintext.read(1):
                    raise broken("data follows its manifest")
                return json.loads(body), parts
            else:
                raise broken(f"unexpected record {kind!r}")
    except BaseException:
        if current is not None:
            current.sink.abort()
        raise
