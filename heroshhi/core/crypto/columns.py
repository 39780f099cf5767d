"""Many values of one encrypted column at once, without model instances.

``EncryptedField`` decrypts through a descriptor on each instance, which is right for a page
of leads but costs more than the AES itself when a job reads a million rows. A
``ColumnCipher`` serves one column of one workspace: it resolves each key once and builds
the AAD from a precomputed prefix, so a value costs one base64 decode and one AES-GCM call.

The ciphertext format and the AAD are exactly those of ``ciphertext.py`` (workspace, table,
column, row id, key version), so values sealed here open through the field and the other
way round, and a value moved to another row, column or workspace still fails to decrypt.

Use one cipher per batch of rows (it remembers the keys it resolved, and key destruction
or rotation should reach long jobs between batches)::

    cipher = ColumnCipher.for_field(Lead._meta.get_field("phone"), workspace.pk)
    for pk, token in rows:
        phone = cipher.open(token, pk)      # decoded like the field would: str, JSON...
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from typing import Any

from cryptography.exceptions import InvalidTag

from heroshhi.core.crypto.ciphertext import (
    _AAD_LABEL,
    _HEADER_BYTES,
    _MIN_BYTES,
    CIPHERTEXT_PREFIX,
    FORMAT_VERSION,
    NONCE_BYTES,
    FieldContext,
)
from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.fields import EncryptedField
from heroshhi.core.crypto.keys import DATA, WorkspaceKeyMaterial, data_key, key_by_id
from heroshhi.core.crypto.keys import canonical_workspace_id as _canonical

_PREFIX_LENGTH = len(CIPHERTEXT_PREFIX)
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _netstring(part: str) -> str:
    # The same "<length>:<text>," parts as FieldContext.aad.
    return f"{len(part)}:{part},"


class ColumnCipher:
    """Seals and opens values of one column (``table``.``column``) of one workspace."""

    __slots__ = ("_field", "_keys", "_location", "_sealing", "column", "table", "workspace_id")

    def __init__(
        self,
        *,
        workspace_id: uuid.UUID | str,
        table: str,
        column: str,
        field: EncryptedField | None = None,
    ) -> None:
        self.workspace_id = _canonical(workspace_id)
        self.table = table
        self.column = column
        self._field = field
        self._location = "".join(_netstring(part) for part in (self.workspace_id, table, column))
        # key id (bytes) -> (key, AAD head: label + header, AAD tail: key version)
        self._keys: dict[bytes, tuple[WorkspaceKeyMaterial, bytes, str]] = {}
        self._sealing: tuple[WorkspaceKeyMaterial, bytes, str] | None = None

    @classmethod
    def for_field(cls, field: EncryptedField, workspace_id: uuid.UUID | str) -> ColumnCipher:
        """The cipher of a model's encrypted field; ``open``/``seal`` then decode and
        encode values as the field does (text, JSON)."""
        return cls(
            workspace_id=workspace_id,
            table=field.model._meta.db_table,
            column=field.column or field.attname,
            field=field,
        )

    def _aad(self, head: bytes, row_id: object, version: str) -> bytes:
        row = str(row_id)
        return head + (self._location + _netstring(row) + version).encode("utf-8")

    def _error(self, reason: str, key_id: str | None = None) -> DecryptionError:
        return DecryptionError(
            f"cannot decrypt {self.table}.{self.column}: {reason}",
            key_id=key_id,
            table=self.table,
            column=self.column,
        )

    def _key(self, key_id: bytes) -> tuple[WorkspaceKeyMaterial, bytes, str]:
        entry = self._keys.get(key_id)
        if entry is None:
            hex_id = key_id.hex()
            try:
                key = key_by_id(hex_id)
            except DecryptionError as exc:
                raise self._error(str(exc), hex_id) from None
            if key.purpose != DATA or key.workspace_id != self.workspace_id:
                raise self._error(f"key {hex_id} belongs to another workspace or purpose", hex_id)
            head = _AAD_LABEL + bytes((FORMAT_VERSION,)) + key_id
            entry = self._keys[key_id] = (key, head, _netstring(str(key.version)))
        return entry

    def decrypt(self, token: str, row_id: object) -> bytes:
        """The plaintext bytes of a stored value of row ``row_id`` (its primary key)."""
        if not token.startswith(CIPHERTEXT_PREFIX):
            raise self._error("not a valid ciphertext (missing prefix)")
        body = token[_PREFIX_LENGTH:]
        try:
            # What base64.b64decode(altchars=b"-_", validate=True) does, at half the cost.
            padded = (body + "=" * (-len(body) % 4)).encode("ascii").translate(_URLSAFE)
            raw = binascii.a2b_base64(padded, strict_mode=True)
        except (binascii.Error, ValueError):
            raise self._error("not a valid ciphertext (bad encoding)") from None
        if len(raw) < _MIN_BYTES or raw[0] != FORMAT_VERSION:
            raise self._error("not a valid ciphertext (too short or unknown format)")
        key, head, version = self._key(raw[1:_HEADER_BYTES])
        try:
            return key.aead.decrypt(
                raw[_HEADER_BYTES : _HEADER_BYTES + NONCE_BYTES],
                raw[_HEADER_BYTES + NONCE_BYTES :],
                self._aad(head, row_id, version),
            )
        except InvalidTag:
            raise self._error(
                f"authentication failed with key {key.key_id} (wrong key, tampered value, or "
                "a value moved from another row, column or workspace)",
                key.key_id,
            ) from None

    def encrypt(self, plaintext: bytes, row_id: object) -> str:
        """The stored form of ``plaintext`` for row ``row_id``, under the current data key."""
        if self._sealing is None:
            key = data_key(self.workspace_id)
            head = _AAD_LABEL + bytes((FORMAT_VERSION,)) + key.key_id_bytes
            self._sealing = (key, head, _netstring(str(key.version)))
        key, head, version = self._sealing
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, plaintext, self._aad(head, row_id, version))
        encoded = base64.urlsafe_b64encode(head[len(_AAD_LABEL) :] + nonce + sealed)
        return CIPHERTEXT_PREFIX + encoded.rstrip(b"=").decode("ascii")

    # With a field: values as the model holds them.
    def open(self, token: str | None, row_id: object) -> Any:
        """``None`` stays ``None``; otherwise the field's value (text, JSON document)."""
        if token is None:
            return None
        return self._require_field().decode(self.decrypt(token, row_id))

    def seal(self, value: Any, row_id: object) -> str | None:
        if value is None:
            return None
        return self.encrypt(self._require_field().encode(value), row_id)

    def _require_field(self) -> EncryptedField:
        if self._field is None:
            raise TypeError("open() and seal() need a cipher made by ColumnCipher.for_field()")
        return self._field

    def context(self, row_id: object) -> FieldContext:
        """The ``FieldContext`` of a row, for ``encrypt_value``/``decrypt_value``."""
        return FieldContext(self.workspace_id, self.table, self.column, str(row_id))
