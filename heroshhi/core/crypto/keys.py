"""Per-workspace keys: lazy creation, unwrapping and a short-lived in-process cache.

Each workspace has one AES-256 data key (``purpose=data``, versioned, rotated by
``rotate_workspace_key``) and one separate HMAC-SHA256 blind-index key
(``purpose=index``). Both are created on first use and stored wrapped by the primary
master key.

Caching rules, and why:

* Unwrapped keys live only in this process's memory, for at most five minutes, so a
  destroyed or rotated key stops being used everywhere soon after the change.
* A key created inside a transaction is cached only once that transaction commits. If it
  rolled back, a cached copy would keep encrypting new rows under a key that exists
  nowhere, and those rows would become unreadable when the cache expired.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from functools import lru_cache, partial
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction

from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.provider import (
    WrapContext,
    WrappedKey,
    get_key_provider,
    reset_key_provider,
)

if TYPE_CHECKING:
    from heroshhi.core.models import WorkspaceKey

DATA = "data"
INDEX = "index"
ACTIVE = "active"
RETIRED = "retired"
KEY_BYTES = 32
KEY_ID_BYTES = 8
MAX_CACHE_SECONDS = 300
_CREATE_ATTEMPTS = 3


@lru_cache(maxsize=4096)  # on every encrypt/decrypt; UUID.__str__ is pure Python
def canonical_workspace_id(value: uuid.UUID | str) -> str:
    """Workspace ids in one textual form, so AAD, HMAC input and cache keys agree."""
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(uuid.UUID(str(value)))


class WorkspaceKeyMaterial:
    """An unwrapped workspace key. The secret never appears in ``repr``."""

    __slots__ = ("_aead", "_secret", "key_id", "key_id_bytes", "purpose", "version", "workspace_id")

    def __init__(
        self, *, key_id: str, workspace_id: str, purpose: str, version: int, secret: bytes
    ) -> None:
        self.key_id = key_id
        self.key_id_bytes = bytes.fromhex(key_id)
        self.workspace_id = workspace_id
        self.purpose = purpose
        self.version = version
        self._secret = secret
        self._aead: AESGCM | None = None

    @property
    def aead(self) -> AESGCM:
        if self.purpose != DATA:
            raise TypeError("Only data keys encrypt; blind-index keys only compute HMACs.")
        if self._aead is None:
            self._aead = AESGCM(self._secret)
        return self._aead

    def mac(self, message: bytes) -> bytes:
        if self.purpose != INDEX:
            raise TypeError("Only blind-index keys compute HMACs.")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return (
            f"<WorkspaceKeyMaterial {self.purpose} v{self.version} {self.key_id} "
            f"workspace={self.workspace_id}>"
        )


class _KeyCache:
    """Unwrapped keys by key id, plus each workspace's current key per purpose."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[float, WorkspaceKeyMaterial]] = {}
        self._primary: dict[tuple[str, str], tuple[float, str]] = {}

    @staticmethod
    def _ttl() -> float:
        configured = getattr(settings, "WORKSPACE_KEY_CACHE_SECONDS", MAX_CACHE_SECONDS)
        return float(min(int(configured), MAX_CACHE_SECONDS))

    def by_id(self, key_id: str) -> WorkspaceKeyMaterial | None:
        entry = self._by_id.get(key_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def primary(self, workspace_id: str, purpose: str) -> WorkspaceKeyMaterial | None:
        entry = self._primary.get((workspace_id, purpose))
        if entry is None or entry[0] < time.monotonic():
            return None
        return self.by_id(entry[1])

    def remember(self, material: WorkspaceKeyMaterial, *, primary: bool) -> None:
        expires = time.monotonic() + self._ttl()
        with self._lock:
            self._by_id[material.key_id] = (expires, material)
            if primary:
                self._primary[(material.workspace_id, material.purpose)] = (
                    expires,
                    material.key_id,
                )

    def forget_workspace(self, workspace_id: str) -> None:
        with self._lock:
            for key_id, (_, material) in list(self._by_id.items()):
                if material.workspace_id == workspace_id:
                    del self._by_id[key_id]
            for slot in [slot for slot in self._primary if slot[0] == workspace_id]:
                del self._primary[slot]

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()
            self._primary.clear()


_cache = _KeyCache()
# Key ids created in a transaction that has not committed yet (see module docstring).
_uncommitted: set[str] = set()
_uncommitted_lock = threading.Lock()


def _remember(material: WorkspaceKeyMaterial, *, primary: bool) -> None:
    if material.key_id not in _uncommitted:
        _cache.remember(material, primary=primary)


def _on_created_key_committed(material: WorkspaceKeyMaterial) -> None:
    with _uncommitted_lock:
        _uncommitted.discard(material.key_id)
    # A new version changes which key is primary; the next lookup reads it from the DB.
    _cache.forget_workspace(material.workspace_id)


def _key_model() -> type[WorkspaceKey]:
    # Imported late so this package can be imported while apps are still loading.
    from heroshhi.core.models import WorkspaceKey

    return WorkspaceKey


def _unwrap_row(row: WorkspaceKey) -> WorkspaceKeyMaterial:
    workspace_id = canonical_workspace_id(row.workspace_id)
    context = WrapContext(workspace_id=workspace_id, purpose=row.purpose, version=row.version)
    wrapped = WrappedKey(master_key_id=row.master_key_id, blob=bytes(row.wrapped))
    secret = get_key_provider().unwrap(wrapped, context=context)
    return WorkspaceKeyMaterial(
        key_id=row.key_id,
        workspace_id=workspace_id,
        purpose=row.purpose,
        version=row.version,
        secret=secret,
    )


def _key_rows(workspace_id: str, purpose: str) -> list[WorkspaceKey]:
    """Every version of one workspace key, newest first (a handful at most)."""
    return list(
        _key_model().objects.filter(workspace_id=workspace_id, purpose=purpose).order_by("-version")
    )


def _insert_version(workspace_id: str, purpose: str, version: int) -> WorkspaceKeyMaterial:
    """Insert one key row; raises IntegrityError when the version (or key id) is taken."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_bytes(KEY_BYTES)
    context = WrapContext(workspace_id=workspace_id, purpose=purpose, version=version)
    wrapped = get_key_provider().wrap(secret, context=context)
    material = WorkspaceKeyMaterial(
        key_id=key_id, workspace_id=workspace_id, purpose=purpose, version=version, secret=secret
    )
    with _uncommitted_lock:
        _uncommitted.add(key_id)
    with transaction.atomic():
        _key_model().objects.create(
            workspace_id=workspace_id,
            purpose=purpose,
            version=version,
            key_id=key_id,
            master_key_id=wrapped.master_key_id,
            wrapped=wrapped.blob,
        )
        transaction.on_commit(partial(_on_created_key_committed, material))
    return material


def _next_version(workspace_id: str, purpose: str) -> int:
    latest = (
        _key_model()
        .objects.filter(workspace_id=workspace_id, purpose=purpose)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    return (latest or 0) + 1


def current_key(workspace_id: uuid.UUID | str, purpose: str) -> WorkspaceKeyMaterial:
    """The key that encrypts (or indexes) new values, created on first use.

    Two processes racing to create the first key both try the same version; the unique
    constraint lets one win and the other reads the winner's row.
    """
    workspace = canonical_workspace_id(workspace_id)
    cached = _cache.primary(workspace, purpose)
    if cached is not None:
        return cached
    for _ in range(_CREATE_ATTEMPTS):
        # One snapshot decides both "is there a current key" and "which version is next",
        # so racing creators always collide on the same version number.
        rows = _key_rows(workspace, purpose)
        current = next((row for row in rows if row.state == ACTIVE), None)
        if current is not None:
            material = _unwrap_row(current)
            _remember(material, primary=True)
            return material
        try:
            return _insert_version(workspace, purpose, rows[0].version + 1 if rows else 1)
        except IntegrityError:
            continue  # someone else created it (or a key id collided): look again
    raise RuntimeError(f"could not create a {purpose} key for workspace {workspace}")


def data_key(workspace_id: uuid.UUID | str) -> WorkspaceKeyMaterial:
    return current_key(workspace_id, DATA)


def index_key(workspace_id: uuid.UUID | str) -> WorkspaceKeyMaterial:
    return current_key(workspace_id, INDEX)


def key_by_id(key_id: str) -> WorkspaceKeyMaterial:
    """The key named in a ciphertext header; ``DecryptionError`` when it no longer exists."""
    cached = _cache.by_id(key_id)
    if cached is not None:
        return cached
    row = _key_model().objects.filter(key_id=key_id).first()
    if row is None:
        raise DecryptionError(f"workspace key {key_id} is unknown or destroyed", key_id=key_id)
    material = _unwrap_row(row)
    _remember(material, primary=False)
    return material


def create_key_version(workspace_id: uuid.UUID | str, purpose: str) -> WorkspaceKeyMaterial:
    """Add the next version of a workspace key; it becomes current at once (it is the
    highest active version). Used by rotation."""
    workspace = canonical_workspace_id(workspace_id)
    material = _insert_version(workspace, purpose, _next_version(workspace, purpose))
    invalidate_workspace_keys(workspace)
    return material


def invalidate_workspace_keys(workspace_id: uuid.UUID | str) -> None:
    """Drop a workspace's cached keys now and again when the current transaction commits
    (another thread may re-read the old rows before then)."""
    workspace = canonical_workspace_id(workspace_id)
    _cache.forget_workspace(workspace)
    transaction.on_commit(partial(_cache.forget_workspace, workspace))


def master_key_ids_in_use() -> list[str]:
    """The master keys the stored workspace keys are wrapped under (ids only)."""
    return sorted(set(_key_model().objects.values_list("master_key_id", flat=True)))


def unwrap_problems() -> list[str]:
    """Every stored workspace key the configured master keys cannot unwrap, as one message
    each (key ids and workspace ids only); empty when all of them unwrap."""
    problems = []
    for row in _key_model().objects.order_by("pk").iterator(chunk_size=500):
        try:
            _unwrap_row(row)
        except DecryptionError as exc:
            problems.append(str(exc))
    return problems


def reset_key_caches() -> None:
    """Forget every cached key and the master key provider (tests, settings changes)."""
    _cache.clear()
    reset_key_provider()


__all__ = [
    "DATA",
    "INDEX",
    "WorkspaceKeyMaterial",
    "canonical_workspace_id",
    "create_key_version",
    "current_key",
    "data_key",
    "index_key",
    "invalidate_workspace_keys",
    "key_by_id",
    "master_key_ids_in_use",
    "reset_key_caches",
    "unwrap_problems",
]
