from django.db import migrations, models

# Every existing token takes its lead's created_at; a correlated subquery, because SQLite and
# PostgreSQL both run it.
BACKFILL = """
UPDATE leads_leadnametoken SET lead_created_at = (
    SELECT leads_lead.created_at FROM leads_lead WHERE leads_lead.id = leads_leadnametoken.lead_id
)
"""


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0013_unique_rules_carry_the_workspace'),
    ]

    operations = [
        migrations.AddField(
            model_name='leadnametoken',
            name='lead_created_at',
            field=models.DateTimeField(null=True),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=True),
        migrations.AlterField(
            model_name='leadnametoken',
            name='lead_created_at',
            field=models.DateTimeField(),
        ),
        migrations.RemoveIndex(
            model_name='leadnametoken',
            name='leads_nametoken_lookup',
        ),
        migrations.AddIndex(
            model_name='leadnametoken',
            index=models.Index(fields=['workspace', 'token', '-lead_created_at', '-lead'], name='leads_nametoken_newest'),
        ),
    ]
