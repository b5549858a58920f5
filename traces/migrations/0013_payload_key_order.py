"""Steps' input and output as `json`, not `jsonb`: the keys of a tool's arguments in the order the agent
sent them (jsonb sorts them by length, then bytes). See traces.fields for what json costs and why the
column reads the same.

On the partitioned parent: every monthly partition follows. Postgres rewrites each partition under an
ACCESS EXCLUSIVE lock (ingest waits for it), so on a large install run it in a quiet hour. Steps stored
before it keep the order jsonb gave them: the order they were sent in is gone.
"""

from django.db import migrations

TO_JSON = """
ALTER TABLE traces_step
    ALTER COLUMN input TYPE json USING input::json,
    ALTER COLUMN output TYPE json USING output::json;
"""
TO_JSONB = """
ALTER TABLE traces_step
    ALTER COLUMN input TYPE jsonb USING input::jsonb,
    ALTER COLUMN output TYPE jsonb USING output::jsonb;
"""


class Migration(migrations.Migration):
    dependencies = [("traces", "0012_search_words")]

    operations = [migrations.RunSQL(TO_JSON, reverse_sql=TO_JSONB)]
