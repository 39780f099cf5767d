from django.db import migrations, models


class Migration(migrations.Migration):
    """The flag the live-number constraint will read once ``deleted_at`` moves to
    ``messaging.Channel``; set from ``deleted_at`` by messaging 0008."""

    dependencies = [
        ('whatsapp', '0002_delivery_contact_keys'),
    ]

    operations = [
        migrations.AddField(
            model_name='whatsappchannel',
            name='live',
            field=models.BooleanField(default=True),
        ),
    ]
