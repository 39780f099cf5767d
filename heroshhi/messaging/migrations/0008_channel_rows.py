"""Every WhatsApp number becomes a ``messaging.Channel`` with the same id.

The id is kept, so conversations, templates, calls, webhook deliveries and the webhook URLs
Meta holds (/webhooks/whatsapp/<id>/) all still name it; the WhatsApp row keeps its
encrypted secrets untouched (their AAD is its table, column and that same id).

A migration of its own, without schema changes: on PostgreSQL, rows written in the
transaction that then adds a foreign key to their table would block the ALTER TABLE.
"""

from django.db import migrations

BATCH = 1000
FIELDS = ('id', 'workspace_id', 'label', 'display_phone_number', 'throughput_tier', 'created_at', 'deleted_at')


def channels_from_whatsapp(apps, schema_editor):
    whatsapp_channels = apps.get_model('whatsapp', 'WhatsAppChannel')
    channels = apps.get_model('messaging', 'Channel')
    rows = whatsapp_channels.objects.order_by('pk').values(*FIELDS)
    batch = []
    for row in rows.iterator(chunk_size=BATCH):
        batch.append(channels(kind='whatsapp', **row))
        if len(batch) == BATCH:
            channels.objects.bulk_create(batch)
            batch = []
    channels.objects.bulk_create(batch)
    whatsapp_channels.objects.filter(deleted_at__isnull=False).update(live=False)


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0007_channel'),
        ('whatsapp', '0003_whatsappchannel_live'),
    ]

    operations = [
        # Not reversible: going back would need the WhatsApp columns this data leaves.
        migrations.RunPython(channels_from_whatsapp, elidable=False),
    ]
