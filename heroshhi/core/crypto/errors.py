"""Errors raised by field encryption.

Messages name keys, tables and columns so an operator can act on them. They never carry a
plaintext value, a ciphertext or key material: exception text ends up in logs and error
trackers.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class for every field-encryption failure."""


class DecryptionError(CryptoError):
    """A stored value cannot be decrypted.

    Raised for a wrong or missing key (including a destroyed workspace key), a tampered
    value, or a value moved to another row, column or workspace. The cause is deliberately
    not narrowed further: AES-GCM cannot tell these apart, and guessing would mislead.
    """

    def __init__(
        self,
        message: str,
        *,
        key_id: str | None = None,
        table: str | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.key_id = key_id
        self.table = table
        self.column = column


class EncryptedLookupError(TypeError):
    """A query tried to compare an encrypted column inside the database.

    Ciphertexts are randomised, so such a filter would silently match nothing. Equality
    search goes through the column's blind index instead.
    """


class BlindIndexValueError(ValueError):
    """A value cannot be normalised for a blind index (for example, not a phone number).

    The message names the kind of value, never the value itself.
    """
