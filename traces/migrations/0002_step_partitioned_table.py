"""The steps table, partitioned by month of start time (traces.partitions creates the months).

Its primary key (project, trace, span, start time) is what makes a retried export insert nothing
twice, and its prefix (project, trace) serves "the steps of one run".
"""

from django.db import migrations

CREATE = """
CREATE TABLE traces_step (
    id bigserial NOT NULL,
    project_id bigint NOT NULL,
    trace_id uuid NOT NULL,
    span_id bigint NOT NULL,
    parent_span_id bigint,
    name text NOT NULL,
    kind varchar(16) NOT NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    duration_ns bigint,
    status varchar(8) NOT NULL,
    error_type text,
    error_message text,
    model text,
    provider text,
    input_tokens bigint,
    output_tokens bigint,
    cache_read_tokens bigint,
    cache_write_tokens bigint,
    reasoning_tokens bigint,
    usage_is_aggregate boolean NOT NULL DEFAULT false,
    cost_usd numeric(20, 10),
    priced boolean NOT NULL DEFAULT false,
    unpriced_reason text,
    reported_cost_usd numeric(20, 10),
    tool_name text,
    tool_call_id text,
    input jsonb,
    output jsonb,
    attributes jsonb NOT NULL DEFAULT '{}',
    events jsonb NOT NULL DEFAULT '[]',
    convention varchar(32) NOT NULL,
    scope_name text,
    PRIMARY KEY (project_id, trace_id, span_id, start_time)
) PARTITION BY RANGE (start_time);
CREATE INDEX traces_step_project_start ON traces_step (project_id, start_time);
"""


class Migration(migrations.Migration):
    dependencies = [("traces", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, reverse_sql="DROP TABLE traces_step;")]
