from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("goldens", "0002_eval_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="goldenset",
            name="gate",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
