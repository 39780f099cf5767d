"""The keyword matcher's rule on each opt-out ledger record.

On SQLite the append-only trigger names its columns, so it is re-created to cover the new
one (PostgreSQL's trigger covers whole rows already).
"""

from django.db import migrations, models

TABLE = "messaging_optoutrecord"


def recreate_sqlite_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    model = apps.get_model("messaging", "OptOutRecord")
    columns = ", ".join(f.column for f in model._meta.concrete_fields)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only;")
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OF {columns} ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, '{TABLE} rows are append-only'); END;"
    )


class Migration(migrations.Migration):
    dependencies = [("messaging", "0010_unique_rules_carry_the_workspace")]

    operations = [
        migrations.AddField(
            model_name="optoutrecord",
            name="rule",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.RunPython(recreate_sqlite_trigger, migrations.RunPython.noop),
    ]
