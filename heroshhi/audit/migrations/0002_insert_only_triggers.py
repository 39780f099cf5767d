"""Database triggers that make audit rows insert-only, whatever code path touches them.

The model and queryset already refuse updates; these catch raw SQL and ORM bypasses.
DELETE stays possible because the retention purge needs it; the hash chain (seq gaps,
head mismatch) exposes any other deletion.

One UPDATE is allowed on audit_auditevent: setting workspace_id to NULL, which is what
on_delete=SET_NULL does when a workspace is deleted. That column is outside the MAC.

PostgreSQL compares whole rows as jsonb, so columns added later are covered without
touching the trigger. SQLite lists the columns, and SQLite drops triggers whenever Django
rebuilds a table: a later migration that alters these tables on SQLite must re-create the
triggers (the test "the database refuses a raw update" fails if it did not).
"""

from django.db import migrations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_reject_update() RETURNS trigger AS $$
DECLARE
    new_row jsonb := to_jsonb(NEW);
    old_row jsonb := to_jsonb(OLD);
BEGIN
    IF (new_row - 'workspace_id') = (old_row - 'workspace_id')
       AND new_row -> 'workspace_id' = 'null'::jsonb THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% rows are insert-only', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""
PG_TRIGGER = (
    "CREATE TRIGGER {table}_insert_only BEFORE UPDATE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION audit_reject_update();"
)
SQLITE_TRIGGER = (
    "CREATE TRIGGER {table}_insert_only BEFORE UPDATE OF {columns} ON {table} "
    "BEGIN SELECT RAISE(ABORT, '{table} rows are insert-only'); END;"
)
SQLITE_KEEP_WORKSPACE = (
    "CREATE TRIGGER audit_auditevent_keep_workspace BEFORE UPDATE OF workspace_id "
    "ON audit_auditevent WHEN NEW.workspace_id IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditevent rows are insert-only'); END;"
)
MODELS = ("AuditEvent", "AuditCheckpoint")


def _sealed_columns(model):
    return [f.column for f in model._meta.concrete_fields if f.column != "workspace_id"]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for name in MODELS:
            table = apps.get_model("audit", name)._meta.db_table
            schema_editor.execute(PG_TRIGGER.format(table=table))
    elif vendor == "sqlite":
        for name in MODELS:
            model = apps.get_model("audit", name)
            columns = ", ".join(_sealed_columns(model))
            schema_editor.execute(
                SQLITE_TRIGGER.format(table=model._meta.db_table, columns=columns)
            )
        schema_editor.execute(SQLITE_KEEP_WORKSPACE)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    tables = [apps.get_model("audit", name)._meta.db_table for name in MODELS]
    if vendor == "postgresql":
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_insert_only ON {table};")
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_reject_update();")
    elif vendor == "sqlite":
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_insert_only;")
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditevent_keep_workspace;")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
