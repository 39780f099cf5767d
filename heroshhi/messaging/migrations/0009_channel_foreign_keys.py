import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Conversations, templates and calls point at the channel-neutral row; the ids in
    their ``channel_id`` columns are the same, only the constraint's target changes."""

    dependencies = [
        ('messaging', '0008_channel_rows'),
    ]

    operations = [
        migrations.AlterField(
            model_name='conversation',
            name='channel',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='conversations', to='messaging.channel'),
        ),
        migrations.AlterField(
            model_name='messagetemplate',
            name='channel',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='templates', to='messaging.channel'),
        ),
        migrations.AlterField(
            model_name='call',
            name='channel',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='messaging.channel'),
        ),
    ]
