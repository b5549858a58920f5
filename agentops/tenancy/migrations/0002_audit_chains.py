"""Per-chain audit log: every event written before this migration keeps verifying as the "legacy" chain.

Those events were one global chain whose hashes do not cover `chain` or `actor_kind`, so setting them
here changes no hash (see agentops.tenancy.audit). Their actor kind is read from what they stored: a
user, or the system (the only other actor the old code wrote).
"""

from django.db import migrations, models


def _legacy_actor_kinds(apps, schema_editor):
    AuditEvent = apps.get_model("tenancy", "AuditEvent")
    AuditEvent.objects.filter(actor_id__isnull=True, actor_label__startswith="system").update(actor_kind="system")


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.CharField(default="legacy", help_text="project:<id>, org:<id>, global, or legacy", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="actor_kind",
            field=models.CharField(
                choices=[("user", "User"), ("ingest_key", "Ingest Key"), ("system", "System")],
                default="user",
                max_length=16,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(_legacy_actor_kinds, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["chain", "-id"], name="audit_chain_recent"),
        ),
    ]
