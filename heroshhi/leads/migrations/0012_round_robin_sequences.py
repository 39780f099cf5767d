from django.db import migrations


def sequence_name(workspace_id):
    # The same name as heroshhi.leads.assignment.round_robin_sequence (kept here so the
    # migration does not change when that code does).
    return f"leads_round_robin_{workspace_id.hex}"


def create_sequences(apps, schema_editor):
    """On PostgreSQL each workspace's round-robin turns come from its own sequence, started
    where the settings row's cursor stands."""
    if schema_editor.connection.vendor != "postgresql":
        return
    AssignmentSettings = apps.get_model("leads", "AssignmentSettings")
    quote = schema_editor.connection.ops.quote_name
    for workspace_id, cursor in AssignmentSettings._base_manager.values_list(
        "workspace_id", "round_robin_cursor"
    ):
        schema_editor.execute(
            f"CREATE SEQUENCE IF NOT EXISTS {quote(sequence_name(workspace_id))} "
            f"MINVALUE 0 START WITH {int(cursor)}"
        )


def drop_sequences(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    AssignmentSettings = apps.get_model("leads", "AssignmentSettings")
    quote = schema_editor.connection.ops.quote_name
    rows = AssignmentSettings._base_manager.all()
    for row in rows:
        name = sequence_name(row.workspace_id)
        # The column takes the count back before the sequence goes.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT pg_sequence_last_value(to_regclass(%s))", [name])
            (last,) = cursor.fetchone()
        if last is not None:
            rows.filter(pk=row.pk).update(round_robin_cursor=last + 1)
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {quote(name)}")


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0011_live_phone_unique"),
    ]

    operations = [
        migrations.RunPython(create_sequences, drop_sequences),
    ]
