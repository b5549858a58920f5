from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("traces", "0004_run_tags_resource")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE traces_step DROP COLUMN scope_name, ADD COLUMN context jsonb",
            reverse_sql="ALTER TABLE traces_step DROP COLUMN context, ADD COLUMN scope_name text",
        )
    ]
