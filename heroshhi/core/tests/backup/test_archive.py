"""The archive format: what was written reads back part by part, and any change to the
sealed stream (a chunk reordered, dropped, cut off or taken from another archive) is refused."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heroshhi.core.backup import archive as archive_format
from heroshhi.core.backup.archive import DATABASE, FILE, ArchiveReader, ArchiveWriter
from heroshhi.core.backup.errors import BackupError

KEY = "a-backup-key-only-these-tests-use-0123456789"
DUMP = b"PGDMP" + bytes(range(256)) * 3
EXPORT = b"PK\x03\x04 an export" * 20
DAMAGED = "the archive is damaged, truncated or was altered"


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(archive_format, "CHUNK_BYTES", 100)


def _write(path: Path) -> Path:
    with path.open("wb") as raw:
        writer = ArchiveWriter(raw, backup_key=KEY, created_at=datetime.now(UTC))
        writer.begin_part(DATABASE, DATABASE)
        for start in range(0, len(DUMP), 70):  # writes that straddle chunk boundaries
            writer.write(DUMP[start : start + 70])
        writer.end_part()
        writer.begin_part("exports/w/e.zip", FILE)
        writer.write(EXPORT)
        writer.end_part()
        writer.finish({"format": 1, "note": "manifest"})
    return path


def _split(stored: bytes) -> tuple[bytes, list[bytes]]:
    (header_length,) = struct.unpack(">I", stored[4:8])
    header, rest, chunks = stored[: 8 + header_length], stored[8 + header_length :], []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        chunks.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return header, chunks


class _Collect:
    def __init__(self, into: dict[str, bytes], name: str) -> None:
        self._into, self._name = into, name
        into[name] = b""

    def write(self, data: bytes) -> None:
        self._into[self._name] += data

    def close(self) -> None:
        """Kept in memory."""

    def abort(self) -> None:
        del self._into[self._name]


def test_what_was_written_reads_back_with_its_manifest(tmp_path):
    path = _write(tmp_path / "a.hxb")
    parts: dict[str, bytes] = {}

    header, manifest = ArchiveReader(path, backup_key=KEY).read(
        lambda name, kind: _Collect(parts, name)
    )

    assert parts == {DATABASE: DUMP, "exports/w/e.zip": EXPORT}
    assert manifest["note"] == "manifest"
    assert [(part["name"], part["bytes"]) for part in manifest["parts"]] == [
        (DATABASE, len(DUMP)),
        ("exports/w/e.zip", len(EXPORT)),
    ]
    assert len(_split(path.read_bytes())[1]) > 10  # many chunks of 100 bytes
    assert header.chunk_bytes == 100
    assert DUMP[5:40] not in path.read_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda h, c: h + c[1] + c[0] + b"".join(c[2:]), id="chunks reordered"),
        pytest.param(lambda h, c: h + c[0] + b"".join(c[2:]), id="a chunk dropped"),
        pytest.param(lambda h, c: h + b"".join(c[:-1]), id="cut at a chunk boundary"),
        pytest.param(lambda h, c: h + b"".join(c)[:-3], id="cut inside a chunk"),
        pytest.param(lambda h, c: h + b"".join(c) + c[-1], id="a chunk added"),
    ],
)
def test_a_changed_stream_is_refused(tmp_path, damage):
    path = _write(tmp_path / "a.hxb")
    header, chunks = _split(path.read_bytes())
    path.write_bytes(damage(header, chunks))

    with pytest.raises(BackupError, match=DAMAGED):
        ArchiveReader(path, backup_key=KEY).verify()


def test_a_chunk_from_another_archive_is_refused(tmp_path):
    # Same backup key, same layout: only the archive's own id, salt and header differ.
    one = _write(tmp_path / "one.hxb")
    header, chunks = _split(one.read_bytes())
    _other_header, other_chunks = _split(_write(tmp_path / "two.hxb").read_bytes())
    one.write_bytes(header + chunks[0] + other_chunks[1] + b"".join(chunks[2:]))

    with pytest.raises(BackupError, match=DAMAGED):
        ArchiveReader(one, backup_key=KEY).verify()


def test_a_part_cut_short_by_a_failure_is_aborted_not_closed(tmp_path):
    path = _write(tmp_path / "a.hxb")
    header, chunks = _split(path.read_bytes())
    path.write_bytes(header + b"".join(chunks[:3]))
    parts: dict[str, bytes] = {}

    with pytest.raises(BackupError, match=DAMAGED):
        ArchiveReader(path, backup_key=KEY).read(lambda name, kind: _Collect(parts, name))
    assert parts == {}
