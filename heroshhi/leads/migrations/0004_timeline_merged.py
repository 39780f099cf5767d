from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0003_assignment_and_speed_to_lead"),
    ]

    operations = [
        migrations.AlterField(
            model_name="timelineevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("updated", "Updated"),
                    ("stage_changed", "Stage changed"),
                    ("assigned", "Assigned"),
                    ("note_added", "Note added"),
                    ("enquired_again", "Enquired again"),
                    ("deleted", "Moved to trash"),
                    ("restored", "Restored"),
                    ("task_added", "Task added"),
                    ("task_done", "Task done"),
                    ("merged", "Merged"),
                ],
                max_length=20,
            ),
        ),
    ]
