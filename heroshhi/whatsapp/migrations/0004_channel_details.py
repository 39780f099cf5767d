import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The WhatsApp row becomes the one-to-one details of its ``messaging.Channel``: its
    primary key turns into the link (same values), and what the channel now holds goes.

    The webhook inbox points at the channel while the primary key column is renamed, so no
    foreign key names the old column when SQLite rebuilds the table, and then back."""

    dependencies = [
        ('whatsapp', '0003_whatsappchannel_live'),
        ('messaging', '0009_channel_foreign_keys'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='whatsappchannel',
            name='whatsapp_channel_live_number',
        ),
        migrations.AddConstraint(
            model_name='whatsappchannel',
            constraint=models.UniqueConstraint(condition=models.Q(('live', True)), fields=('phone_number_id',), name='whatsapp_channel_live_number'),
        ),
        migrations.AlterField(
            model_name='webhookdelivery',
            name='channel',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='messaging.channel'),
        ),
        migrations.RenameField(
            model_name='whatsappchannel',
            old_name='id',
            new_name='channel',
        ),
        migrations.AlterField(
            model_name='whatsappchannel',
            name='channel',
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='whatsapp', serialize=False, to='messaging.channel'),
        ),
        migrations.AlterField(
            model_name='webhookdelivery',
            name='channel',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='whatsapp.whatsappchannel'),
        ),
        migrations.RemoveField(
            model_name='whatsappchannel',
            name='created_at',
        ),
        migrations.RemoveField(
            model_name='whatsappchannel',
            name='deleted_at',
        ),
        migrations.RemoveField(
            model_name='whatsappchannel',
            name='display_phone_number',
        ),
        migrations.RemoveField(
            model_name='whatsappchannel',
            name='label',
        ),
        migrations.RemoveField(
            model_name='whatsappchannel',
            name='throughput_tier',
        ),
    ]
