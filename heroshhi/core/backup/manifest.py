"""What a backup records about itself, and the checks a restore makes against it.

Keys never enter an archive. It records only which keys its data needs: the ids (and
fingerprints) of the master keys the workspace keys are wrapped under, and the fingerprints
of the audit keys the audit chain is sealed with. The workspace keys themselves are rows of
the database (``core_workspacekey``, each wrapped by a master key), so the database dump
carries them; the manifest counts them, and a restore checks every one unwraps.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader

from heroshhi.core.backup.errors import BackupError
from heroshhi.core.crypto.fingerprints import key_fingerprint
from heroshhi.core.crypto.keys import master_key_ids_in_use
from heroshhi.core.crypto.provider import get_key_provider
from heroshhi.core.models import WorkspaceKey

AUDIT_KEY_PURPOSE = "audit-key"
MASTER_KEYS_VARIABLE = "HEROSHHI_MASTER_KEYS"
AUDIT_KEY_VARIABLE = "HEROSHHI_AUDIT_KEY"


def app_version() -> str:
    try:
        return importlib.metadata.version("heroshhi")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        with (settings.BASE_DIR / "pyproject.toml").open("rb") as project:
            return str(tomllib.load(project)["project"]["version"])


def migration_heads(connection: BaseDatabaseWrapper) -> dict[str, list[str]]:
    """Per app, the applied migrations none of whose same-app children are applied."""
    loader = MigrationLoader(connection)
    applied = set(loader.applied_migrations)
    heads: dict[str, list[str]] = {}
    for node in sorted(applied):
        if node not in loader.graph.node_map:
            continue  # a migration removed from the code since it ran
        children = loader.graph.node_map[node].children
        if not any(child.key in applied and child.key[0] == node[0] for child in children):
            heads.setdefault(node[0], []).append(node[1])
    return heads


def _audit_secrets() -> list[str | bytes]:
    """The current audit key, then any retired ones rows may still be sealed with."""
    return [settings.AUDIT_HMAC_KEY, *getattr(settings, "AUDIT_HMAC_PREVIOUS_KEYS", ())]


def audit_fingerprints() -> list[str]:
    return [key_fingerprint(secret, purpose=AUDIT_KEY_PURPOSE) for secret in _audit_secrets()]


def key_references() -> dict[str, Any]:
    provider = get_key_provider()
    return {
        "workspace_keys": {
            "stored_in": f"the database ({WorkspaceKey._meta.db_table}, wrapped by master keys)",
            "rows": WorkspaceKey.objects.count(),
        },
        "master_keys": [
            {"id": key_id, "fingerprint": provider.fingerprint(key_id)}
            for key_id in master_key_ids_in_use()
        ],
        "audit_keys": [{"fingerprint": fingerprint} for fingerprint in audit_fingerprints()],
    }


def check_database_vendor(manifest: dict[str, Any], connection: BaseDatabaseWrapper) -> None:
    vendor = manifest["database"]["vendor"]
    if vendor != connection.vendor:
        raise BackupError(
            f"The archive holds a {vendor} database, but the configured database is "
            f"{connection.vendor}: set DATABASE_URL to a {vendor} database."
        )


def check_migrations_known(manifest: dict[str, Any]) -> None:
    """Refuses an archive made by a newer version of the app than this one."""
    loader = MigrationLoader(None, ignore_no_migrations=True)  # the code's, not the database's
    unknown = [
        f"{app}.{name}"
        for app, names in sorted(manifest["database"]["migration_heads"].items())
        if app in loader.migrated_apps
        for name in names
        if (app, name) not in loader.graph.node_map
    ]
    if unknown:
        raise BackupError(
            "The archive was made by a newer version of the app (migrations unknown here: "
            f"{', '.join(unknown)}); install that version or a later one before restoring."
        )


def check_keys_configured(manifest: dict[str, Any]) -> None:
    """Every master key the workspace keys need, and every audit key the chain needs, is
    configured here (compared by id and fingerprint; the keys are not in the archive)."""
    provider = get_key_provider()
    for master in manifest["master_keys"]:
        configured = provider.fingerprint(master["id"])
        if configured is None:
            raise BackupError(
                f"master key {master['id']} is not configured: the data cannot be decrypted. "
                f"Add it to {MASTER_KEYS_VARIABLE} (the keys are kept apart from the backups)."
            )
        if master["fingerprint"] is not None and configured != master["fingerprint"]:
            raise BackupError(
                f"master key {master['id']} is configured with other key bytes (fingerprint "
                f"{configured}, the archive needs {master['fingerprint']}): the data cannot "
                f"be decrypted. Configure the original key under that id in "
                f"{MASTER_KEYS_VARIABLE}."
            )
    configured_audit = set(audit_fingerprints())
    for audit in manifest["audit_keys"]:
        if audit["fingerprint"] not in configured_audit:
            raise BackupError(
                f"audit key of fingerprint {audit['fingerprint']} is not configured: the audit "
                f"chain cannot be verified. Set {AUDIT_KEY_VARIABLE} to the key the "
                "deployment used."
            )
