"""Workspace-aware field encryption (P02). See ARCHITECTURE.md, "Encryption (P02)".

Public API::

    EncryptedTextField, EncryptedJSONField      model fields (encrypt in pre_save)
    BlindIndexField                              holds a blind index (indexed hex)
    blind_index(workspace_id, kind, value)       kinds: "phone", "email", "name_token"
    name_tokens(workspace_id, name)              one index per word of a name
    normalise_phone / normalise_email            the normalisers, for display and dedupe
    DecryptionError, EncryptedLookupError, BlindIndexValueError
    encrypt_value / decrypt_value / FieldContext for ciphertext outside model fields
    KeyProvider, LocalKeyProvider                the master-key seam (a KMS can replace it)
    reset_key_caches(), invalidate_workspace_keys(workspace_id)
"""

from heroshhi.core.crypto.blind_indexes import (
    EMAIL,
    NAME_TOKEN,
    PHONE,
    WA_USER,
    BlindIndexField,
    blind_index,
    blind_index_memo,
    name_tokens,
    normalise_email,
    normalise_name_token,
    normalise_phone,
    split_name_tokens,
)
from heroshhi.core.crypto.ciphertext import (
    CIPHERTEXT_PREFIX,
    FieldContext,
    ciphertext_key_id,
    decrypt_value,
    encrypt_value,
    is_ciphertext,
)
from heroshhi.core.crypto.errors import (
    BlindIndexValueError,
    CryptoError,
    DecryptionError,
    EncryptedLookupError,
)
from heroshhi.core.crypto.fields import EncryptedField, EncryptedJSONField, EncryptedTextField
from heroshhi.core.crypto.keys import (
    canonical_workspace_id,
    invalidate_workspace_keys,
    reset_key_caches,
)
from heroshhi.core.crypto.provider import KeyProvider, LocalKeyProvider, get_key_provider

__all__ = [
    "CIPHERTEXT_PREFIX",
    "EMAIL",
    "NAME_TOKEN",
    "PHONE",
    "WA_USER",
    "BlindIndexField",
    "BlindIndexValueError",
    "CryptoError",
    "DecryptionError",
    "EncryptedField",
    "EncryptedJSONField",
    "EncryptedLookupError",
    "EncryptedTextField",
    "FieldContext",
    "KeyProvider",
    "LocalKeyProvider",
    "blind_index",
    "blind_index_memo",
    "canonical_workspace_id",
    "ciphertext_key_id",
    "decrypt_value",
    "encrypt_value",
    "get_key_provider",
    "invalidate_workspace_keys",
    "is_ciphertext",
    "name_tokens",
    "normalise_email",
    "normalise_name_token",
    "normalise_phone",
    "reset_key_caches",
    "split_name_tokens",
]
