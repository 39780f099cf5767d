"""Key providers wrap and unwrap workspace keys with a master key (envelope encryption).

``KeyProvider`` is the seam for a KMS or Vault Transit later: the rest of the package only
calls ``wrap``/``unwrap`` and reads ``primary_key_id``. ``LocalKeyProvider`` keeps the
master keys in process memory and wraps with AES-256-GCM.

The additional data binds a wrapped key to its workspace, purpose and version, so a
wrapped blob copied onto another ``WorkspaceKey`` row does not unwrap.
"""

from __future__ import annotations

import abc
import secrets
import struct
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.fingerprints import key_fingerprint
from heroshhi.core.crypto.master import MasterKeyring, load_master_keyring

_NONCE_BYTES = 12
_LENGTH = struct.Struct(">I")
_WRAP_LABEL = b"heroshhi/workspace-key/v1"
MASTER_FINGERPRINT_PURPOSE = "master-key"


def length_prefixed(*parts: bytes) -> bytes:
    """Join parts unambiguously: each part carries its length (4 bytes, big-endian)."""
    pieces: list[bytes] = []
    for part in parts:
        pieces.append(_LENGTH.pack(len(part)))
        pieces.append(part)
    return b"".join(pieces)


@dataclass(frozen=True)
class WrapContext:
    """What a wrapped key is bound to."""

    workspace_id: str
    purpose: str
    version: int

    def aad(self) -> bytes:
        return length_prefixed(
            _WRAP_LABEL,
            self.workspace_id.encode(),
            self.purpose.encode(),
            str(self.version).encode(),
        )


@dataclass(frozen=True)
class WrappedKey:
    master_key_id: str
    blob: bytes


class KeyProvider(abc.ABC):
    """Wraps workspace keys under a master key; implementations may call out to a KMS."""

    @property
    @abc.abstractmethod
    def primary_key_id(self) -> str:
        """The master key id that ``wrap`` uses."""

    @abc.abstractmethod
    def fingerprint(self, master_key_id: str) -> str | None:
        """A public fingerprint of the master key with this id (``key_fingerprint``), or
        None when no such key is configured here. A backup records it, so a restore can
        tell a missing master key from one configured under the right id with other bytes."""

    @abc.abstractmethod
    def wrap(self, key: bytes, *, context: WrapContext) -> WrappedKey:
        """Wrap ``key`` under the primary master key."""

    @abc.abstractmethod
    def unwrap(self, wrapped: WrappedKey, *, context: WrapContext) -> bytes:
        """Return the key, or raise ``DecryptionError`` (unknown master key, wrong key,
        tampered blob, or a context that does not match)."""


class LocalKeyProvider(KeyProvider):
    """Master keys held in memory (from the environment or the development key file)."""

    def __init__(self, keyring: MasterKeyring) -> None:
        self._keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    @property
    def primary_key_id(self) -> str:
        return self._keyring.primary_id

    def fingerprint(self, master_key_id: str) -> str | None:
        key = self._keyring.get(master_key_id)
        return None if key is None else key_fingerprint(key, purpose=MASTER_FINGERPRINT_PURPOSE)

    def wrap(self, key: bytes, *, context: WrapContext) -> WrappedKey:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._ciphers[self.primary_key_id].encrypt(nonce, key, context.aad())
        return WrappedKey(master_key_id=self.primary_key_id, blob=nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, *, context: WrapContext) -> bytes:
        cipher = self._ciphers.get(wrapped.master_key_id)
        if cipher is None:
            raise DecryptionError(
                f"master key {wrapped.master_key_id!r} is not configured "
                "(HEROSHHI_MASTER_KEYS); it is needed to unwrap a "
                f"{context.purpose} key of workspace {context.workspace_id}"
            )
        blob = bytes(wrapped.blob)
        try:
            return cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context.aad())
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"master key {wrapped.master_key_id!r} does not unwrap the "
                f"{context.purpose} key v{context.version} of workspace "
                f"{context.workspace_id}: wrong master key or tampered key row"
            ) from None


_provider: KeyProvider | None = None
_provider_lock = threading.Lock()


def get_key_provider() -> KeyProvider:
    """The process-wide provider, built from settings on first use."""
    global _provider
    provider = _provider
    if provider is None:
        with _provider_lock:
            if _provider is None:
                _provider = LocalKeyProvider(load_master_keyring())
            provider = _provider
    return provider


def reset_key_provider() -> None:
    """Forget the provider so the next use re-reads the master key configuration."""
    global _provider
    with _provider_lock:
        _provider = None
