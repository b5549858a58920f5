"""Text search that finds what users type: `7301` finds `ORD-7301`, words inside tag-like text are found.

PostgreSQL's default parser reads `ORD-7301` as the word `ord` and the signed number `-7301`, so `7301`
never matched, and it drops `<ORD-7301>` whole as a tag. agentops_search_words() rewrites the previews
before the parser sees them: every run of characters that are not letters or digits becomes one space,
and letters and digits written together are split (`ORD7301` is `ORD 7301`, `gpt4o` is `gpt 4 o`). The
query goes through the same function (traces.filters), so `ORD-7301`, `ord7301` and `7301` all find the
run. Still 'simple': no stemming, no stop words. An IMMUTABLE SQL function: the index and the filter name
the same expression (traces.filters.RUN_SEARCH_VECTOR; a test checks that the planner uses the index).
"""

from django.db import migrations

WORDS = r"""
CREATE FUNCTION agentops_search_words(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT regexp_replace(
        regexp_replace(
            regexp_replace($1, '([[:alpha:]])([[:digit:]])', '\1 \2', 'g'),
            '([[:digit:]])([[:alpha:]])', '\1 \2', 'g'),
        '[^[:alnum:]]+', ' ', 'g')
$$
"""


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0011_rollup_ledger"),
    ]

    operations = [
        migrations.RunSQL(WORDS, "DROP FUNCTION agentops_search_words(text)"),
        migrations.RunSQL(
            [
                "DROP INDEX run_text_search",
                "CREATE INDEX run_text_search ON traces_run USING gin "
                "((to_tsvector('simple'::regconfig, agentops_search_words(input_preview || ' ' || output_preview))))",
            ],
            [
                "DROP INDEX run_text_search",
                "CREATE INDEX run_text_search ON traces_run USING gin "
                "((to_tsvector('simple'::regconfig, input_preview || ' ' || output_preview)))",
            ],
        ),
    ]
