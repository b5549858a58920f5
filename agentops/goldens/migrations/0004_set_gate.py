from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("goldens", "0003_sampling_rules"),
    ]

    operations = [
        migrations.AddField(
            model_name="goldenset",
            name="gate",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
