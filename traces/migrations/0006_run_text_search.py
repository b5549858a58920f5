"""Text search over runs' input and output previews (traces.filters `q`): a GIN index on their words.

PostgreSQL's built-in full text search, not pg_trgm: the embedded server (pgserver) ships without that
extension. The expression is traces.filters.RUN_SEARCH_VECTOR, which the queries repeat verbatim (a test
checks that the two agree).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0005_step_context"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX run_text_search ON traces_run USING gin "
            "((to_tsvector('simple'::regconfig, input_preview || ' ' || output_preview)))",
            "DROP INDEX run_text_search",
        ),
    ]
