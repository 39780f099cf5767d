"""Sealing of per-user secrets (TOTP shared secrets) with AES-256-GCM.

Users are platform-level, so the per-workspace data keys of ``heroshhi.core.crypto`` do not
fit. Each configured master key yields a user-secrets key through HKDF-SHA256 with its own
label, so these keys are never the ones that wrap workspace keys. See
docs/adr/0004-user-secrets-encryption.md.

Stored form (base64url without padding, after the ``hu1:`` prefix)::

    format version (1 byte) | key id length (1 byte) | master key id | nonce (12 bytes)
    | AES-256-GCM ciphertext + tag

The additional data binds the header, the table, the column and the row's owner, so a
sealed value copied to another row or column fails authentication instead of opening.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.master import load_master_keyring

FORMAT_VERSION = 1
PREFIX = "hu1:"
NONCE_BYTES = 12
_HKDF_INFO = b"heroshhi/user-secrets/v1"
_AAD_LABEL = b"heroshhi/user-secret/v1|"


@dataclass(frozen=True, slots=True)
class SecretContext:
    """Where a sealed value lives; ``row_id`` is the owning user's id."""

    table: str
    column: str
    row_id: str

    def aad(self, header: bytes) -> bytes:
        parts = (self.table, self.column, self.row_id)
        return _AAD_LABEL + header + "".join(f"{len(p)}:{p}," for p in parts).encode()


@functools.lru_cache(maxsize=8)
def _cipher(master_key: bytes) -> AESGCM:
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(master_key)
    return AESGCM(derived)


def _error(context: SecretContext, problem: str, key_id: str | None = None) -> DecryptionError:
    # Names the place and the key, never the value: the text may reach a log.
    return DecryptionError(
        f"cannot open {context.table}.{context.column}: {problem}",
        key_id=key_id,
        table=context.table,
        column=context.column,
    )


def seal(plaintext: bytes, *, context: SecretContext) -> str:
    """Encrypt under the key derived from the primary master key."""
    keyring = load_master_keyring()
    key_id = keyring.primary_id.encode()
    header = bytes((FORMAT_VERSION, len(key_id))) + key_id
    nonce = os.urandom(NONCE_BYTES)
    master = keyring.keys[keyring.primary_id]
    sealed = _cipher(master).encrypt(nonce, plaintext, context.aad(header))
    return PREFIX + base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode()


def _unpack(token: str, context: SecretContext) -> tuple[bytes, str, bytes, bytes]:
    if not token.startswith(PREFIX):
        raise _error(context, "not a sealed value")
    body = token[len(PREFIX) :]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise _error(context, "bad encoding") from None
    if len(raw) < 2 or raw[0] != FORMAT_VERSION:
        raise _error(context, "unknown format")
    header_end = 2 + raw[1]
    if len(raw) < header_end + NONCE_BYTES + 16:
        raise _error(context, "too short")
    key_id = raw[2:header_end].decode("ascii", errors="replace")
    nonce = raw[header_end : header_end + NONCE_BYTES]
    return raw[:header_end], key_id, nonce, raw[header_end + NONCE_BYTES :]


def sealed_key_id(token: str, *, context: SecretContext) -> str:
    """The master key id a value is sealed under, without opening it."""
    return _unpack(token, context)[1]


def open_sealed(token: str, *, context: SecretContext) -> bytes:
    """The plaintext, or ``DecryptionError`` for anything that does not authenticate."""
    header, key_id, nonce, sealed = _unpack(token, context)
    master = load_master_keyring().get(key_id)
    if master is None:
        raise _error(
            context, f"master key {key_id!r} is not configured (HEROSHHI_MASTER_KEYS)", key_id
        )
    try:
        return _cipher(master).decrypt(nonce, sealed, context.aad(header))
    except InvalidTag:
        raise _error(
            context, "authentication failed (wrong key, tampered or moved)", key_id
        ) from None


def is_sealed_under_primary(token: str, *, context: SecretContext) -> bool:
    return sealed_key_id(token, context=context) == load_master_keyring().primary_id
