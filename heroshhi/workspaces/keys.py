"""Workspace key lifecycle: master-key re-wrapping, workspace data-key rotation,
crypto-shredding, each audited.

Here rather than in ``core.crypto``, which does the cryptography: core is the bottom layer
and records nothing in the audit log. The management commands ``rotate_master_key`` and
``rotate_workspace_key`` are thin wrappers around these functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.crypto.ciphertext import ciphertext_key_id
from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.fields import (
    CIPHERTEXT_LOOKUP,
    EncryptedField,
    encrypted_fields_of,
    stored_ciphertext,
)
from heroshhi.core.crypto.keys import (
    ACTIVE,
    DATA,
    RETIRED,
    WorkspaceKeyMaterial,
    canonical_workspace_id,
    create_key_version,
    invalidate_workspace_keys,
    key_by_id,
)
from heroshhi.core.crypto.provider import WrapContext, WrappedKey, get_key_provider
from heroshhi.core.models import WorkspaceKey
from heroshhi.workspaces.models import Workspace

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
Progress = Callable[[str], None]


# --- crypto-shredding -------------------------------------------------------------------


def workspace_keys_destroy(*, workspace: Workspace, actor: Actor) -> int:
    """Delete every key of ``workspace`` and flush this process's key cache.

    Afterwards each encrypted value of the workspace raises ``DecryptionError``, wherever
    a copy of it survives (replicas, backups, exports of ciphertext). Other processes stop
    decrypting when their cache entries expire (at most five minutes). Returns the number
    of key rows deleted.
    """
    with transaction.atomic():
        deleted, _ = WorkspaceKey.objects.filter(workspace_id=workspace.pk).delete()
        invalidate_workspace_keys(workspace.pk)
        # On the platform chain: the workspace's own chain may be deleted with it.
        audit_record(
            workspace=None,
            actor=actor,
            action=AuditAction.WORKSPACE_KEYS_DESTROYED,
            target=("workspace", str(workspace.pk)),
            metadata={"keys": int(deleted)},
        )
    logger.info(
        "workspace keys destroyed", extra={"workspace_id": str(workspace.pk), "keys": deleted}
    )
    return int(deleted)


# --- master key rotation ----------------------------------------------------------------


@dataclass
class RewrapReport:
    primary_master_key_id: str
    total: int
    rewrapped: int
    already_current: int
    usage_after: dict[str, int]


def master_key_usage() -> dict[str, int]:
    """How many workspace keys each master key currently wraps."""
    rows = (
        WorkspaceKey.objects.values_list("master_key_id")
        .annotate(n=models.Count("pk"))
        .order_by("master_key_id")
    )
    return {master_key_id: count for master_key_id, count in rows}


def master_key_rewrap_all(*, batch_size: int = DEFAULT_BATCH_SIZE) -> RewrapReport:
    """Re-wrap every workspace key (active and retired) under the primary master key.

    Idempotent: keys already under the primary are left alone, so a run that was
    interrupted can simply be repeated. Once ``usage_after`` lists only the primary, the
    old master keys can be removed from the configuration.
    """
    provider = get_key_provider()
    primary = provider.primary_key_id
    total = WorkspaceKey.objects.count()
    already_current = WorkspaceKey.objects.filter(master_key_id=primary).count()
    rewrapped, last_pk = 0, 0
    while True:
        batch = list(
            WorkspaceKey.objects.filter(pk__gt=last_pk)
            .exclude(master_key_id=primary)
            .order_by("pk")[:batch_size]
        )
        if not batch:
            break
        with transaction.atomic():
            for row in batch:
                rewrapped += _rewrap_row(row)
        last_pk = batch[-1].pk
    if rewrapped:
        with transaction.atomic():
            audit_record(
                workspace=None,
                actor=Actor.system(),
                action=AuditAction.MASTER_KEY_ROTATED,
                metadata={"primary": primary, "rewrapped": rewrapped},
            )
    return RewrapReport(
        primary_master_key_id=primary,
        total=total,
        rewrapped=rewrapped,
        already_current=already_current,
        usage_after=master_key_usage(),
    )


def _rewrap_row(row: WorkspaceKey) -> int:
    provider = get_key_provider()
    context = WrapContext(
        workspace_id=canonical_workspace_id(row.workspace_id),
        purpose=row.purpose,
        version=row.version,
    )
    secret = provider.unwrap(
        WrappedKey(master_key_id=row.master_key_id, blob=bytes(row.wrapped)), context=context
    )
    wrapped = provider.wrap(secret, context=context)
    # Conditional on the old master key id: a concurrent run or deletion wins quietly.
    return int(
        WorkspaceKey.objects.filter(pk=row.pk, master_key_id=row.master_key_id).update(
            master_key_id=wrapped.master_key_id, wrapped=wrapped.blob
        )
    )


# --- workspace data key rotation --------------------------------------------------------


@dataclass
class ModelRotation:
    label: str
    scanned: int = 0
    reencrypted: int = 0
    skipped: int = 0
    conflicts: int = 0
    unreadable: int = 0


@dataclass
class RotationReport:
    workspace_id: str
    key_id: str | None = None
    version: int | None = None
    resumed: bool = False
    finished: bool = False
    retired_versions: int = 0
    models: list[ModelRotation] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(getattr(stats, attribute) for stats in self.models)


def encrypted_models() -> list[tuple[type[models.Model], list[EncryptedField]]]:
    """Every installed concrete model with encrypted columns in its own table."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        fields = encrypted_fields_of(model)
        if fields:
            found.append((model, fields))
    return found


def _target_key(workspace_id: str, *, new_version: bool) -> tuple[WorkspaceKeyMaterial, bool]:
    """The key to rotate into, and whether an earlier run is being resumed.

    More than one active data key means a previous rotation has not finished: continue
    with its key rather than starting yet another version.
    """
    active = list(
        WorkspaceKey.objects.filter(workspace_id=workspace_id, purpose=DATA, state=ACTIVE)
        .order_by("-version")
        .values_list("key_id", flat=True)
    )
    if active and (len(active) > 1 or not new_version):
        return key_by_id(active[0]), len(active) > 1
    return create_key_version(workspace_id, DATA), False


def workspace_data_key_rotate(
    *,
    workspace: Workspace,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    new_version: bool = True,
    progress: Progress | None = None,
) -> RotationReport:
    """Move every encrypted value of ``workspace`` to a new data-key version.

    Creates the next version (it is current at once), re-encrypts row by row in primary-key
    batches across every model with encrypted fields, then retires the older versions.
    Resumable: rows already under the new key are skipped, and an unfinished earlier run
    is continued instead of starting over. ``max_batches`` stops early (the old key stays
    active); ``new_version=False`` only sweeps rows left under older versions into the
    current key, e.g. ones written by processes whose key cache had not expired yet.

    Retired keys still decrypt, so nothing becomes unreadable if a row was missed.
    Blind-index keys are not rotated here: an index value must be recomputed from the
    plaintext for every row at once or equality search breaks mid-way, which needs a
    versioned index column and its own re-index job.
    """
    workspace_id = canonical_workspace_id(workspace.pk)
    report = RotationReport(workspace_id=workspace_id)
    if not WorkspaceKey.objects.filter(workspace_id=workspace_id, purpose=DATA).exists():
        report.finished = True  # nothing was ever encrypted for this workspace
        return report
    target, report.resumed = _target_key(workspace_id, new_version=new_version)
    report.key_id, report.version = target.key_id, target.version
    budget = [max_batches]
    report.finished = True
    for model, fields in encrypted_models():
        stats = ModelRotation(label=model._meta.label)
        report.models.append(stats)
        if not _rotate_model(model, fields, workspace_id, target, batch_size, budget, stats):
            report.finished = False
            break
        if progress is not None:
            progress(
                f"{stats.label}: {stats.scanned} scanned, {stats.reencrypted} re-encrypted, "
                f"{stats.skipped} already current"
            )
    if report.finished and report.total("conflicts") == 0:
        report.retired_versions = _retire_older(workspace_id, target)
        with transaction.atomic():
            audit_record(
                workspace=workspace,
                actor=Actor.system(),
                action=AuditAction.WORKSPACE_KEY_ROTATED,
                metadata={
                    "version": report.version,
                    "reencrypted": report.total("reencrypted"),
                    "retired": report.retired_versions,
                },
            )
    return report


def _rows_of_workspace(
    model: type[models.Model], fields: list[EncryptedField], workspace_id: str
) -> models.QuerySet[Any]:
    workspace_field = fields[0].workspace_field
    names = [field.name for field in fields]
    if workspace_field is None:
        queryset = model._base_manager.filter(pk=workspace_id)
    else:
        queryset = model._base_manager.filter(**{workspace_field: workspace_id})
        names.append(workspace_field)
    return queryset.order_by("pk").only(*names)


def _rotate_model(
    model: type[models.Model],
    fields: list[EncryptedField],
    workspace_id: str,
    target: WorkspaceKeyMaterial,
    batch_size: int,
    budget: list[int | None],
    stats: ModelRotation,
) -> bool:
    """Re-encrypt one model's rows; False when the batch budget ran out first."""
    rows = _rows_of_workspace(model, fields, workspace_id)
    last_pk: Any = None
    while True:
        page = list((rows if last_pk is None else rows.filter(pk__gt=last_pk))[:batch_size])
        if not page:
            return True
        if budget[0] is not None:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
        with transaction.atomic():
            for instance in page:
                _rotate_row(model, fields, instance, target, stats)
        last_pk = page[-1].pk


def _rotate_row(
    model: type[models.Model],
    fields: list[EncryptedField],
    instance: models.Model,
    target: WorkspaceKeyMaterial,
    stats: ModelRotation,
) -> None:
    stats.scanned += 1
    try:
        stale = {
            field: token
            for field in fields
            if (token := stored_ciphertext(instance, field)) is not None
            and ciphertext_key_id(token) != target.key_id
        }
        if not stale:
            stats.skipped += 1
            return
        fresh = {
            field.name: field.seal(instance, getattr(instance, field.attname), key=target)
            for field in stale
        }
    except DecryptionError as exc:
        stats.unreadable += 1
        logger.warning(
            "rotation skipped an unreadable row",
            extra={"model": stats.label, "pk": str(instance.pk), "error": str(exc)},
        )
        return
    # Compare-and-swap on the old ciphertext, so a concurrent edit is never overwritten.
    unchanged = {f"{field.name}__{CIPHERTEXT_LOOKUP}": token for field, token in stale.items()}
    if model._base_manager.filter(pk=instance.pk, **unchanged).update(**fresh):
        stats.reencrypted += 1
    else:
        stats.conflicts += 1


def _retire_older(workspace_id: str, target: WorkspaceKeyMaterial) -> int:
    retired = (
        WorkspaceKey.objects.filter(workspace_id=workspace_id, purpose=DATA, state=ACTIVE)
        .exclude(key_id=target.key_id)
        .update(state=RETIRED)
    )
    invalidate_workspace_keys(workspace_id)
    return int(retired)
