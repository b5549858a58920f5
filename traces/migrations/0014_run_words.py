"""Each run's search document (traces.models.RunWords): the words of all its steps, so that search finds
a word in a tool's arguments or result, or in an error message, and not only in the run's previews.

The foreign keys are the database's, with ON DELETE CASCADE: runs are deleted with raw SQL (retention,
erasure), and a document must not outlive its run. Runs stored before this migration have no document;
search still finds them by their previews (traces.filters).
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0002_audit_chains"),
        ("traces", "0013_payload_key_order"),
    ]

    operations = [
        migrations.CreateModel(
            name="RunWords",
            fields=[
                (
                    "run",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="traces.run",
                    ),
                ),
                ("words", django.contrib.postgres.search.SearchVectorField()),
                (
                    "project",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenancy.project",
                    ),
                ),
            ],
            options={
                "indexes": [django.contrib.postgres.indexes.GinIndex(fields=["words"], name="run_words_search")],
            },
        ),
        migrations.RunSQL(
            [
                "ALTER TABLE traces_runwords ADD CONSTRAINT run_words_run FOREIGN KEY (run_id)"
                " REFERENCES traces_run (id) ON DELETE CASCADE",
                "ALTER TABLE traces_runwords ADD CONSTRAINT run_words_project FOREIGN KEY (project_id)"
                " REFERENCES tenancy_project (id) ON DELETE CASCADE",
            ],
            [
                "ALTER TABLE traces_runwords DROP CONSTRAINT run_words_run",
                "ALTER TABLE traces_runwords DROP CONSTRAINT run_words_project",
            ],
        ),
    ]
