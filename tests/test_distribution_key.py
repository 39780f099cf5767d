"""Every tenant table can be sharded by ``workspace_id`` (docs/scale.md).

A sharded PostgreSQL (Citus) distributes tenant tables by one column, and it can enforce a
unique constraint only when the constraint includes that column. So: every table that
belongs to a tenant carries ``workspace_id`` (not null), and every unique constraint or
unique column of such a table includes it. The exceptions are global lookups that happen
before the tenant is known; each is listed with its reason, and a sharded deployment keeps
those tables (or a routing copy of them) as reference tables.

Primary keys are random UUIDs, unique without coordination; distributing a table makes
(workspace_id, id) its key, a step docs/scale.md describes.
"""

from __future__ import annotations

from django.apps import apps
from django.db import models

from heroshhi.core.tenancy import WorkspaceOwned

# (model label, constraint name or field name): why the uniqueness is global.
GLOBAL_LOOKUPS = {
    # An API key is found by its prefix before anyone knows its workspace.
    ("accounts.ApiKey", "prefix"): "auth resolves the workspace from the key",
    # An invitation link carries only its token; the token names the workspace.
    ("workspaces.Invitation", "token_hash"): "the link resolves the workspace",
    # Meta names a number, not a workspace, in every webhook: one live channel per number.
    ("whatsapp.WhatsAppChannel", "whatsapp_channel_live_number"): "webhook routing",
}

# Rules that should carry the workspace but do not yet, with what changing them involves.
NOT_YET_KEYED = {
    # A one-to-one with its lead (``lead.restriction``): becomes a (workspace, lead) rule and a
    # plain foreign key when the tables are distributed.
    ("privacy.LeadRestriction", "lead"): "one-to-one field",
}

# Tables that reference tenant rows without being tenant rows, with the reason.
NOT_TENANT_TABLES: dict[str, str] = {}


def _tenant_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, WorkspaceOwned) and model._meta.app_label != "crypto_testapp"
    ]


def _unique_sets(model: type[models.Model]) -> list[tuple[str, set[str]]]:
    """Each uniqueness rule of the table (besides its key) as (name, column names)."""
    rules: list[tuple[str, set[str]]] = []
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            rules.append((constraint.name, set(constraint.fields)))
    for fields in model._meta.unique_together:
        rules.append(("unique_together:" + ",".join(fields), set(fields)))
    for field in model._meta.concrete_fields:
        if field.unique and not field.primary_key:
            rules.append((field.name, {field.name}))
    return rules


def test_every_tenant_table_carries_a_not_null_workspace_id():
    missing = []
    for model in _tenant_models():
        field = model._meta.get_field("workspace")
        if not isinstance(field, models.ForeignKey) or field.null or field.column != "workspace_id":
            missing.append(model._meta.label)
    assert missing == []


def test_every_table_that_points_at_tenant_rows_is_a_tenant_table():
    outside = []
    for model in apps.get_models():
        label = model._meta.label
        if issubclass(model, WorkspaceOwned) or label in NOT_TENANT_TABLES:
            continue
        for field in model._meta.concrete_fields:
            related = field.related_model
            if (
                field.is_relation
                and isinstance(related, type)
                and issubclass(related, WorkspaceOwned)
            ):
                outside.append(f"{label}.{field.name}")
    assert outside == []


def test_every_unique_rule_of_a_tenant_table_includes_the_workspace():
    without_workspace = []
    for model in _tenant_models():
        label = model._meta.label
        for name, columns in _unique_sets(model):
            excepted = (label, name) in GLOBAL_LOOKUPS or (label, name) in NOT_YET_KEYED
            if "workspace" in columns or excepted:
                continue
            without_workspace.append(f"{label}:{name}")
    assert without_workspace == []


def test_the_listed_exceptions_still_exist():
    # A stale exception would quietly allow a new rule of the same name.
    present = {
        (model._meta.label, name) for model in _tenant_models() for name, _ in _unique_sets(model)
    }
    assert set(GLOBAL_LOOKUPS) | set(NOT_YET_KEYED) <= present
