"""The stored form of an encrypted value.

Layout (then base64url without padding, after the ``hx1:`` prefix)::

    format version (1 byte) | key id (8 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext+tag

The additional authenticated data binds the header, the workspace, the table, the column,
the row's primary key and the key version. A value copied to another row, column or
workspace therefore fails authentication instead of decrypting there.

Random 96-bit nonces are safe for about 2**32 encryptions per key; workspace key rotation
(``rotate_workspace_key``) starts a fresh key long before a workspace gets near that.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import NamedTuple

from cryptography.exceptions import InvalidTag

from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.keys import (
    DATA,
    KEY_ID_BYTES,
    WorkspaceKeyMaterial,
    data_key,
    key_by_id,
)

FORMAT_VERSION = 1
CIPHERTEXT_PREFIX = "hx1:"
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER_BYTES = 1 + KEY_ID_BYTES
_MIN_BYTES = _HEADER_BYTES + NONCE_BYTES + TAG_BYTES
_AAD_LABEL = b"heroshhi/field/v1|"  # then the fixed-size header


class FieldContext(NamedTuple):
    """Where a value lives. ``workspace_id`` must be canonical (see
    ``canonical_workspace_id``); ``row_id`` is the row's primary key as text."""

    workspace_id: str
    table: str
    column: str
    row_id: str

    def aad(self, header: bytes, key_version: int) -> bytes:
        # Netstring-style "<length>:<text>," parts: unambiguous, and one encode per value.
        parts = (self.workspace_id, self.table, self.column, self.row_id, str(key_version))
        text = "".join(f"{len(part)}:{part}," for part in parts)
        return _AAD_LABEL + header + text.encode("utf-8")


def is_ciphertext(value: object) -> bool:
    """True for text in the stored ciphertext form (a cheap prefix check, no decryption)."""
    return isinstance(value, str) and value.startswith(CIPHERTEXT_PREFIX)


def _unpack(token: str, context: FieldContext) -> bytes:
    def malformed(reason: str) -> DecryptionError:
        return DecryptionError(
            f"stored value of {context.table}.{context.column} is not a valid ciphertext "
            f"({reason})",
            table=context.table,
            column=context.column,
        )

    if not is_ciphertext(token):
        raise malformed("missing prefix")
    body = token[len(CIPHERTEXT_PREFIX) :]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise malformed("bad encoding") from None
    if len(raw) < _MIN_BYTES:
        raise malformed("too short")
    if raw[0] != FORMAT_VERSION:
        raise malformed(f"unknown format version {raw[0]}")
    return raw


def ciphertext_key_id(token: str) -> str:
    """The workspace key id in a ciphertext header, without decrypting it."""
    raw = _unpack(token, FieldContext(workspace_id="", table="?", column="?", row_id=""))
    return raw[1:_HEADER_BYTES].hex()


def encrypt_value(
    plaintext: bytes, *, context: FieldContext, key: WorkspaceKeyMaterial | None = None
) -> str:
    """Encrypt under ``key`` or, by default, the workspace's current data key."""
    if key is None:
        key = data_key(context.workspace_id)
    if key.workspace_id != context.workspace_id or key.purpose != DATA:
        raise ValueError("encrypt_value needs a data key of the value's own workspace")
    header = bytes((FORMAT_VERSION,)) + key.key_id_bytes
    nonce = os.urandom(NONCE_BYTES)
    sealed = key.aead.encrypt(nonce, plaintext, context.aad(header, key.version))
    encoded = base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode("ascii")
    return CIPHERTEXT_PREFIX + encoded


def decrypt_value(token: str, *, context: FieldContext) -> bytes:
    """Decrypt a stored value; ``DecryptionError`` for anything that does not authenticate."""
    raw = _unpack(token, context)
    header, nonce, sealed = (
        raw[:_HEADER_BYTES],
        raw[_HEADER_BYTES : _HEADER_BYTES + NONCE_BYTES],
        raw[_HEADER_BYTES + NONCE_BYTES :],
    )
    key_id = header[1:].hex()
    where = f"{context.table}.{context.column}"
    try:
        key = key_by_id(key_id)
    except DecryptionError as exc:
        raise DecryptionError(
            f"cannot decrypt {where}: {exc}",
            key_id=key_id,
            table=context.table,
            column=context.column,
        ) from None
    if key.purpose != DATA or key.workspace_id != context.workspace_id:
        raise DecryptionError(
            f"cannot decrypt {where}: key {key_id} belongs to another workspace or purpose",
            key_id=key_id,
            table=context.table,
            column=context.column,
        )
    try:
        return key.aead.decrypt(nonce, sealed, context.aad(header, key.version))
    except InvalidTag:
        raise DecryptionError(
            f"cannot decrypt {where} with key {key_id}: authentication failed (wrong key, "
            "tampered value, or a value moved from another row, column or workspace)",
            key_id=key_id,
            table=context.table,
            column=context.column,
        ) from None
