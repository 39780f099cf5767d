"""Database triggers that make the opt-out ledger append-only, whatever code path touches it.

Updates are refused everywhere. Deletes are refused on PostgreSQL, the production database;
SQLite keeps DELETE possible because the test database is flushed row by row there (on
PostgreSQL the flush is a TRUNCATE, which row triggers do not see). The model refuses
deletes on every database.
"""

from django.db import migrations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION optout_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'opt-out ledger rows are append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""
TABLE = "messaging_optoutrecord"


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION optout_reject_change();"
        )
    elif vendor == "sqlite":
        model = apps.get_model("messaging", "OptOutRecord")
        columns = ", ".join(f.column for f in model._meta.concrete_fields)
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OF {columns} ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{TABLE} rows are append-only'); END;"
        )


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};")
        schema_editor.execute("DROP FUNCTION IF EXISTS optout_reject_change();")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only;")


class Migration(migrations.Migration):
    dependencies = [("messaging", "0002_initial")]

    operations = [migrations.RunPython(install, uninstall)]
