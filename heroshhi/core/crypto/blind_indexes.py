"""Blind indexes: keyed hashes that let the database match encrypted values by equality.

``blind_index(workspace_id, kind, value)`` = HMAC-SHA256 under the workspace's own index
key (never its data key) over the *normalised* value, truncated to 128 bits (32 hex
characters). The kind is part of the HMAC input, so a phone index never equals an email
index of the same text.

Why 128 bits: phone and email indexes back dedupe, unique constraints and the opt-out
ledger, so false matches must not happen. Truncation does not hide low-entropy values:
about 10**10 Indian mobile numbers can be enumerated by anyone holding the index key, so
that key is protected exactly like the data key. Do not index low-cardinality fields
(status, city) on their own.

Normalisers:

* ``phone``: E.164 via ``phonenumbers``, default region IN (``98765 43210``,
  ``098765-43210``, ``919876543210`` and ``+91 98765 43210`` are one number).
* ``email``: trimmed and lower-cased.
* ``name_token``: one word, NFKC-normalised and case-folded; ``name_tokens`` splits a
  full name and returns one index per distinct word.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import phonenumbers
from django.db import models

from heroshhi.core.crypto.errors import BlindIndexValueError
from heroshhi.core.crypto.keys import WorkspaceKeyMaterial, index_key
from heroshhi.core.crypto.provider import length_prefixed

PHONE = "phone"
EMAIL = "email"
NAME_TOKEN = "name_token"  # noqa: S105 (a kind name, not a secret)
# WhatsApp's business-scoped user id (BSUID, e.g. "IN.1349…"), for contacts without a phone.
WA_USER = "wa_user"
DEFAULT_PHONE_REGION = "IN"
BLIND_INDEX_LENGTH = 32  # hex characters = 128 bits
_LABEL = b"heroshhi/blind-index/v1"
# Unicode categories that separate words: separators, punctuation, symbols, controls.
# Letters (L), marks (M, e.g. Devanagari vowel signs) and numbers (N) stay in a word.
_WORD_BREAK_CATEGORIES = ("Z", "P", "S", "C")
_E164 = re.compile(r"\+[1-9][0-9]{5,14}")


def normalise_phone(value: str, *, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 form of a phone number; ``BlindIndexValueError`` when it is not a valid number."""
    try:
        number = phonenumbers.parse(str(value), region)
    except phonenumbers.NumberParseException:
        raise BlindIndexValueError("not a phone number that can be read") from None
    if not phonenumbers.is_valid_number(number):
        raise BlindIndexValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    email = str(value).strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in email):
        raise BlindIndexValueError("not an email address")
    return email


def normalise_wa_user(value: str) -> str:
    text = str(value).strip()
    if not text or any(ch.isspace() for ch in text) or len(text) > 128:
        raise BlindIndexValueError("not a WhatsApp user id")
    return text


def split_name_tokens(value: str) -> list[str]:
    """Distinct words of a name, NFKC-normalised and case-folded, in order of appearance."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    spaced = "".join(
        " " if unicodedata.category(ch).startswith(_WORD_BREAK_CATEGORIES) else ch for ch in text
    )
    return list(dict.fromkeys(spaced.split()))


def normalise_name_token(value: str) -> str:
    tokens = split_name_tokens(value)
    if len(tokens) != 1:
        raise BlindIndexValueError("a name token must be exactly one word; use name_tokens()")
    return tokens[0]


NORMALISERS: dict[str, Callable[[str], str]] = {
    PHONE: normalise_phone,
    EMAIL: normalise_email,
    NAME_TOKEN: normalise_name_token,
    WA_USER: normalise_wa_user,
}


def _digest(key: WorkspaceKeyMaterial, kind: str, normalised: str) -> str:
    message = length_prefixed(_LABEL, kind.encode(), normalised.encode("utf-8"))
    return key.mac(message).hex()[:BLIND_INDEX_LENGTH]


class _WorkspaceMemo:
    """One workspace's index key and the indexes computed with it, by kind then value."""

    __slots__ = ("indexes", "key")

    def __init__(self, key: WorkspaceKeyMaterial) -> None:
        self.key = key
        self.indexes: dict[str, dict[str, str]] = {kind: {} for kind in NORMALISERS}


class _Memo:
    """What a ``blind_index_memo()`` block has computed, per workspace."""

    __slots__ = ("_last", "_last_id", "workspaces")

    def __init__(self) -> None:
        self.workspaces: dict[uuid.UUID | str, _WorkspaceMemo] = {}
        self._last_id: uuid.UUID | str | None = None
        self._last: _WorkspaceMemo | None = None

    def of(self, workspace_id: uuid.UUID | str) -> _WorkspaceMemo:
        # A batch passes the same id object call after call: the identity check spares
        # hashing a UUID (a Python-level __hash__) per index.
        if workspace_id is self._last_id and self._last is not None:
            return self._last
        found = self.workspaces.get(workspace_id)
        if found is None:
            found = self.workspaces[workspace_id] = _WorkspaceMemo(index_key(workspace_id))
        self._last_id, self._last = workspace_id, found
        return found


_memo: ContextVar[_Memo | None] = ContextVar("blind_index_memo", default=None)


@contextmanager
def blind_index_memo() -> Iterator[None]:
    """Inside the block, ``blind_index``, ``blind_index_of_normalised`` and ``name_tokens``
    read each workspace's index key once and compute each (workspace, kind, value) index
    once. Made for batches: a batch of webhooks names the same contacts again and again, a
    batch of leads repeats name words, and reading a phone number costs ten times the HMAC.
    Everything is forgotten when the block ends; a block opened inside another one shares
    the outer block's memo."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set(_Memo())
    try:
        yield
    finally:
        _memo.reset(token)


def _unknown_kind(kind: str) -> ValueError:
    return ValueError(f"unknown blind index kind {kind!r}; use one of {sorted(NORMALISERS)}")


def blind_index(workspace_id: uuid.UUID | str, kind: str, value: str) -> str:
    """The blind index of ``value`` in this workspace (``kind``: phone, email, name_token)."""
    normaliser = NORMALISERS.get(kind)
    if normaliser is None:
        raise _unknown_kind(kind)
    memo = _memo.get()
    if memo is None:
        return _digest(index_key(workspace_id), kind, normaliser(value))
    entry = memo.of(workspace_id)
    known = entry.indexes[kind]
    index = known.get(value)
    if index is None:
        index = known[value] = _digest(entry.key, kind, normaliser(value))
    return index


def blind_index_of_normalised(workspace_id: uuid.UUID | str, kind: str, normalised: str) -> str:
    """``blind_index`` of a value that is already its normaliser's output (a phone that
    ``normalise_phone`` gave): the normalisers are idempotent, so this skips the second
    parse. Refuses a phone that cannot be such an output."""
    if kind not in NORMALISERS:
        raise _unknown_kind(kind)
    if kind == PHONE and not _E164.fullmatch(normalised):
        raise BlindIndexValueError("not a normalised phone number")
    memo = _memo.get()
    if memo is None:
        return _digest(index_key(workspace_id), kind, normalised)
    entry = memo.of(workspace_id)
    # The entry ``blind_index`` makes for this text too: it normalises to itself.
    known = entry.indexes[kind]
    index = known.get(normalised)
    if index is None:
        index = known[normalised] = _digest(entry.key, kind, normalised)
    return index


def name_tokens(workspace_id: uuid.UUID | str, name: str) -> list[str]:
    """One blind index per distinct word of ``name`` (empty for a name without words)."""
    tokens = split_name_tokens(name)
    if not tokens:
        return []
    memo = _memo.get()
    if memo is None:
        key = index_key(workspace_id)
        return [_digest(key, NAME_TOKEN, token) for token in tokens]
    entry = memo.of(workspace_id)
    known = entry.indexes[NAME_TOKEN]
    digests = []
    for token in tokens:
        digest = known.get(token)
        if digest is None:
            digest = known[token] = _digest(entry.key, NAME_TOKEN, token)
        digests.append(digest)
    return digests


class BlindIndexField(models.CharField):
    """Holds a blind index: indexed hex text, never edited by hand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", BLIND_INDEX_LENGTH)
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        # Record only what differs from this field's own defaults.
        name, path, args, kwargs = super().deconstruct()
        if self.max_length == BLIND_INDEX_LENGTH:
            kwargs.pop("max_length", None)
        kwargs.pop("db_index", None)
        kwargs.pop("editable", None)
        if not getattr(self, "db_index", True):  # not declared in django-stubs
            kwargs["db_index"] = False
        if self.editable:
            kwargs["editable"] = True
        return name, path, args, kwargs
