"""Model fields whose values are encrypted per workspace and bound to their row.

Usage::

    class Lead(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
        workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE)
        phone = EncryptedTextField()
        phone_bidx = BlindIndexField()
        extra = EncryptedJSONField(null=True)

How it works:

* ``pre_save`` encrypts with the instance at hand (workspace id, table, column and primary
  key go into the AAD), so the primary key must exist before the first save: use
  ``UUIDField(primary_key=True, default=uuid.uuid4)``.
* Values read from the database stay sealed until the attribute is first read; the
  descriptor then decrypts and keeps the plaintext on the instance.
* ``None`` is stored as NULL (for ``EncryptedJSONField`` this means JSON ``null`` and
  "no value" are the same).

Limits, by design:

* The database cannot compare ciphertexts: every lookup except ``isnull`` raises
  ``EncryptedLookupError``; filter on the blind index instead. ``order_by`` on an encrypted
  field runs but orders by random ciphertext, which means nothing; sort in Python or on a
  separate plaintext column.
* ``QuerySet.update()``, ``bulk_update()`` and raw fixture loading cannot encrypt (they do
  not pass through ``pre_save`` with the row), so they refuse plaintext with a TypeError.
  ``Model.save()`` and ``bulk_create()`` work.
* The table and column names are part of the AAD: renaming either makes existing values
  unreadable. Pin ``db_table``/``db_column`` to the old names when renaming a model or field.
* Adding an encrypted column to a table that already has rows needs ``null=True`` (a
  migration default cannot be encrypted without its row).
* Copying an instance to a new primary key works only after its encrypted attributes were
  read (the stored ciphertext is bound to the old key).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django import forms
from django.core import checks
from django.db import models
from django.db.models.lookups import Exact
from django.db.models.query_utils import DeferredAttribute

from heroshhi.core.crypto.ciphertext import (
    FieldContext,
    decrypt_value,
    encrypt_value,
    is_ciphertext,
)
from heroshhi.core.crypto.errors import EncryptedLookupError
from heroshhi.core.crypto.keys import WorkspaceKeyMaterial, canonical_workspace_id

# Internal compare-and-swap on stored ciphertext (used by key rotation). Comparing a
# ciphertext reveals nothing; it is never a way to search for a plaintext.
CIPHERTEXT_LOOKUP = "ciphertext_is"


class _Sealed(str):
    """Ciphertext exactly as stored.

    Marks values that came from the database or from ``pre_save``: the descriptor knows to
    decrypt them, and ``get_prep_value`` knows they are safe to write.
    """

    __slots__ = ()


class _DecryptingAttribute(DeferredAttribute):
    """Decrypts on first read and caches the plaintext on the instance.

    A data descriptor (it defines ``__set__``), so every read passes through ``__get__``
    even after the instance dict holds a value.
    """

    field: EncryptedField

    def __get__(self, instance: models.Model | None, cls: type | None = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, _Sealed):
            value = self.field.unseal(instance, value)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class _CiphertextIs(Exact):
    """Plain SQL equality on the stored text; reachable only as ``<field>__ciphertext_is``."""

    lookup_name = "exact"  # drives the SQL operator; the public name is CIPHERTEXT_LOOKUP

    def get_prep_lookup(self) -> Any:
        if not is_ciphertext(self.rhs):
            raise EncryptedLookupError(f"{CIPHERTEXT_LOOKUP} compares stored ciphertexts only.")
        return str(self.rhs)


def _refused_lookup(field: EncryptedField, lookup_name: str) -> type:
    """A lookup class that lets ``field=None`` become ``IS NULL`` and refuses the rest."""

    class RefusedLookup:
        can_use_none_as_rhs = False

        def __init__(self, lhs: Any, rhs: Any) -> None:
            if rhs is not None or lookup_name not in ("exact", "iexact"):
                raise field.lookup_error(lookup_name)
            self.lhs = lhs
            self.rhs = None

    return RefusedLookup


class EncryptedField(models.TextField):
    """Base for encrypted fields: subclasses define how a value becomes bytes and back.

    ``workspace_field`` names the field holding the owning workspace (``"workspace"`` by
    default, read as ``instance.workspace_id``). ``None`` means the row *is* the workspace
    (or shares its id), so the row's own primary key is the workspace id.
    """

    descriptor_class = _DecryptingAttribute
    _DEFAULT_WORKSPACE_FIELD: ClassVar[str] = "workspace"

    def __init__(
        self, *args: Any, workspace_field: str | None = _DEFAULT_WORKSPACE_FIELD, **kwargs: Any
    ) -> None:
        self.workspace_field = workspace_field
        super().__init__(*args, **kwargs)

    # Subclasses: plaintext <-> bytes.
    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.workspace_field != self._DEFAULT_WORKSPACE_FIELD:
            kwargs["workspace_field"] = self.workspace_field
        return name, path, args, kwargs

    # Where the value lives: the AAD.
    def workspace_id_of(self, instance: models.Model) -> str:
        if self.workspace_field is None:
            raw = instance.pk
        else:
            raw = getattr(instance, self._workspace_attname())
        if raw is None:
            raise ValueError(f"{self.label()} needs the row's workspace before encrypting.")
        return canonical_workspace_id(raw)

    def _workspace_attname(self) -> str:
        # Resolved once per field: this runs for every value encrypted or decrypted.
        cached: str | None = self.__dict__.get("_cached_workspace_attname")
        if cached is None:
            target = self.model._meta.get_field(str(self.workspace_field))
            cached = self.__dict__["_cached_workspace_attname"] = str(target.attname)  # type: ignore[union-attr]
        return cached

    def context_for(self, instance: models.Model) -> FieldContext:
        if instance.pk is None:
            raise ValueError(
                f"{self.label()} needs the primary key before saving; give the model "
                "UUIDField(primary_key=True, default=uuid.uuid4)."
            )
        row_id = self.model._meta.pk.to_python(instance.pk)
        return FieldContext(
            workspace_id=self.workspace_id_of(instance),
            table=self.model._meta.db_table,
            column=self.column or self.attname,
            row_id=str(row_id),
        )

    def label(self) -> str:
        return f"{self.model._meta.label}.{self.name}"

    # Encryption on the way in, decryption on first read.
    def seal(
        self, instance: models.Model, value: Any, *, key: WorkspaceKeyMaterial | None = None
    ) -> str:
        """The stored form of ``value`` for this row (under ``key``, default: current)."""
        token = encrypt_value(self.encode(value), context=self.context_for(instance), key=key)
        return _Sealed(token)

    def unseal(self, instance: models.Model, token: str) -> Any:
        return self.decode(decrypt_value(token, context=self.context_for(instance)))

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if value is None:
            return None
        return self.seal(model_instance, value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else _Sealed(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, _Sealed):
            return str(value)
        raise TypeError(
            f"{self.label()} is encrypted per row: write it through Model.save() or "
            "bulk_create(), not QuerySet.update(), bulk_update() or raw fixtures."
        )

    # Queries: the database only ever sees ciphertext.
    def lookup_error(self, lookup_name: str) -> EncryptedLookupError:
        return EncryptedLookupError(
            f"{self.label()} is encrypted, so the database cannot evaluate "
            f"'{lookup_name}' on it (only 'isnull'). Filter on its blind index "
            "(heroshhi.core.crypto.blind_indexes) instead."
        )

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name == CIPHERTEXT_LOOKUP:
            return _CiphertextIs
        return _refused_lookup(self, lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        raise self.lookup_error(lookup_name)

    # System checks: catch misuse at `manage.py check` instead of at runtime.
    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_encryption_setup()]

    def _check_encryption_setup(self) -> list[checks.CheckMessage]:
        errors: list[checks.CheckMessage] = []
        # django-stubs does not declare Field.db_index, hence getattr.
        if self.unique or self.primary_key or getattr(self, "db_index", False):
            errors.append(
                checks.Error(
                    "Encrypted fields cannot be unique, indexed or primary keys; "
                    "put the constraint on a blind index.",
                    obj=self,
                    id="heroshhi_crypto.E001",
                )
            )
        pk = self.model._meta.pk
        if pk is not None and pk.remote_field is None and not pk.has_default():
            errors.append(
                checks.Error(
                    "Models with encrypted fields need a primary key set before saving.",
                    hint="Use UUIDField(primary_key=True, default=uuid.uuid4).",
                    obj=self,
                    id="heroshhi_crypto.E002",
                )
            )
        errors.extend(self._check_workspace_field())
        return errors

    def _check_workspace_field(self) -> list[checks.CheckMessage]:
        if self.workspace_field is not None:
            names = {field.name for field in self.model._meta.get_fields()}
            if self.workspace_field not in names:
                return [
                    checks.Error(
                        f"workspace_field {self.workspace_field!r} is not a field of this model.",
                        obj=self,
                        id="heroshhi_crypto.E003",
                    )
                ]
        siblings = {
            field.workspace_field
            for field in self.model._meta.local_concrete_fields
            if isinstance(field, EncryptedField)
        }
        if len(siblings) > 1:
            return [
                checks.Error(
                    "All encrypted fields of a model must name the same workspace_field.",
                    obj=self,
                    id="heroshhi_crypto.E004",
                )
            ]
        return []


class EncryptedTextField(EncryptedField):
    """Encrypted text (UTF-8). See the module docstring for what it cannot do."""

    def encode(self, value: Any) -> bytes:
        text = value if isinstance(value, str) else str(value)
        return text.encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")


class EncryptedJSONField(EncryptedField):
    """Encrypted JSON document (any JSON-serialisable value except a top-level ``None``)."""

    # Tell django-stubs this field holds JSON values, not the text of its TextField base.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def __init__(
        self,
        *args: Any,
        encoder: type[json.JSONEncoder] | None = None,
        decoder: type[json.JSONDecoder] | None = None,
        **kwargs: Any,
    ) -> None:
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not None:
            kwargs["encoder"] = self.encoder
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        return name, path, args, kwargs

    def encode(self, value: Any) -> bytes:
        text = json.dumps(value, cls=self.encoder, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data.decode("utf-8"), cls=self.decoder)

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: models.Model) -> Any:
        return self.value_from_object(obj)

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(
            **{
                "form_class": forms.JSONField,
                "encoder": self.encoder,
                "decoder": self.decoder,
                **kwargs,
            }
        )


def stored_ciphertext(instance: models.Model, field: EncryptedField) -> str | None:
    """The ciphertext loaded from the database for ``field``, if it has not been read or
    replaced since; ``None`` otherwise. Lets maintenance code inspect headers cheaply."""
    value = instance.__dict__.get(field.attname)
    return value if isinstance(value, _Sealed) else None


def encrypted_fields_of(model: type[models.Model]) -> list[EncryptedField]:
    """The encrypted fields stored in ``model``'s own table."""
    return [f for f in model._meta.local_concrete_fields if isinstance(f, EncryptedField)]
