"""Queued audit events: writers insert them unlinked, the sequencer links them into the chain.

``seq`` becomes nullable and ``prev_mac``/``mac`` empty until the event is linked;
``entry_mac`` holds the writer's seal over the content. Existing rows are all linked and
keep their MACs (``entry_mac`` is outside the MAC).

The triggers of audit_auditevent change with it (audit_auditcheckpoint's stay as they are):

* an INSERT must be queued: no ``seq``, ``prev_mac`` or ``mac``;
* the one UPDATE besides detaching a deleted workspace (``workspace_id`` to NULL) is the
  sequencer's link: ``seq``, ``prev_mac`` and ``mac`` set, once, on a row that has no
  ``seq`` yet, every other column unchanged.

SQLite drops a table's triggers when Django rebuilds it (the AlterField below does), so they
are created here again; PostgreSQL keeps comparing whole rows as jsonb, so columns added
later are covered without touching it.
"""

import importlib

from django.db import migrations, models

PG_GUARD_UPDATE = """
CREATE OR REPLACE FUNCTION audit_event_guard_update() RETURNS trigger AS $$
DECLARE
    link_fields text[] := ARRAY['seq', 'prev_mac', 'mac'];
    new_row jsonb := to_jsonb(NEW);
    old_row jsonb := to_jsonb(OLD);
BEGIN
    IF (new_row - 'workspace_id') = (old_row - 'workspace_id')
       AND new_row -> 'workspace_id' = 'null'::jsonb THEN
        RETURN NEW;
    END IF;
    IF OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.prev_mac <> '' AND NEW.mac <> ''
       AND (new_row - link_fields) = (old_row - link_fields) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% rows are insert-only', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""
PG_GUARD_INSERT = """
CREATE OR REPLACE FUNCTION audit_event_guard_insert() RETURNS trigger AS $$
BEGIN
    IF NEW.seq IS NULL AND NEW.prev_mac = '' AND NEW.mac = '' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_auditevent rows are inserted queued; the sequencer links them'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""
PG_TRIGGERS = (
    "DROP TRIGGER IF EXISTS audit_auditevent_insert_only ON audit_auditevent;",
    "CREATE TRIGGER audit_auditevent_insert_only BEFORE UPDATE ON audit_auditevent "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_guard_update();",
    "CREATE TRIGGER audit_auditevent_queued_insert BEFORE INSERT ON audit_auditevent "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_guard_insert();",
)
LINK_COLUMNS = ("seq", "prev_mac", "mac")
SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_auditevent_insert_only BEFORE UPDATE OF {columns} "
    "ON audit_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditevent rows are insert-only'); END;",
    "CREATE TRIGGER audit_auditevent_link_once BEFORE UPDATE OF seq, prev_mac, mac "
    "ON audit_auditevent "
    "WHEN OLD.seq IS NOT NULL OR NEW.seq IS NULL OR NEW.prev_mac = '' OR NEW.mac = '' "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditevent rows are insert-only'); END;",
    "CREATE TRIGGER audit_auditevent_keep_workspace BEFORE UPDATE OF workspace_id "
    "ON audit_auditevent WHEN NEW.workspace_id IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditevent rows are insert-only'); END;",
    "CREATE TRIGGER audit_auditevent_queued_insert BEFORE INSERT ON audit_auditevent "
    "WHEN NEW.seq IS NOT NULL OR NEW.prev_mac <> '' OR NEW.mac <> '' "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditevent rows are inserted queued'); END;",
)
SQLITE_NAMES = (
    "audit_auditevent_insert_only",
    "audit_auditevent_link_once",
    "audit_auditevent_keep_workspace",
    "audit_auditevent_queued_insert",
)


def _drop(schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in ("audit_auditevent_insert_only", "audit_auditevent_queued_insert"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON audit_auditevent;")
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_event_guard_update();")
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_event_guard_insert();")
    elif schema_editor.connection.vendor == "sqlite":
        for name in SQLITE_NAMES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_GUARD_UPDATE, params=None)
        schema_editor.execute(PG_GUARD_INSERT, params=None)
        for statement in PG_TRIGGERS:
            schema_editor.execute(statement)
    elif vendor == "sqlite":
        _drop(schema_editor)
        model = apps.get_model("audit", "AuditEvent")
        fixed = [
            f.column
            for f in model._meta.concrete_fields
            if f.column != "workspace_id" and f.column not in LINK_COLUMNS
        ]
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement.format(columns=", ".join(fixed)))


def uninstall(apps, schema_editor):
    """Back to the triggers of 0002, which refuse every update but the detach."""
    _drop(schema_editor)
    previous = importlib.import_module("heroshhi.audit.migrations.0002_insert_only_triggers")
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(previous.PG_TRIGGER.format(table="audit_auditevent"))
    elif vendor == "sqlite":
        model = apps.get_model("audit", "AuditEvent")
        columns = ", ".join(previous._sealed_columns(model))
        schema_editor.execute(
            previous.SQLITE_TRIGGER.format(table="audit_auditevent", columns=columns)
        )
        schema_editor.execute(previous.SQLITE_KEEP_WORKSPACE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_privacy_events")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_mac",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="entry_mac",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("seq__isnull", True)),
                fields=["chain", "id"],
                name="audit_event_queue_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("seq__isnull", True)),
                fields=["occurred_at"],
                name="audit_event_queue_age_idx",
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
