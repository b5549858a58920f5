"""The columns ingest writes: traces_step's, the run context staged beside them, and the run's."""

# Columns of traces_step written by ingest, in COPY order.
STEP_COLUMNS = (
    "project_id", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
    "duration_ns", "status", "error_type", "error_message", "model", "provider", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "usage_is_aggregate",
    "cost_usd", "priced", "unpriced_reason", "reported_cost_usd", "tool_name", "tool_call_id", "input",
    "output", "attributes", "events", "convention", "context",
)  # fmt: skip

# What a step contributes to its run and is not stored per step: traces.ingest.runs reads it.
CONTEXT_COLUMNS = (
    "start_ns", "end_ns", "is_root", "needs_price", "is_call", "rank", "agent", "agent_rank", "bundle",
    "bundle_rank", "environment", "session_id", "user_id", "input_preview", "input_preview_rank", "output_preview",
    "output_preview_rank", "tags", "resource",
)  # fmt: skip

# A staged row (traces.ingest.rows builds them): the step's columns, typed as the table holds them,
# then its run context. The store copies the first len(STEP_COLUMNS) values of each.
STAGE_COLUMNS = STEP_COLUMNS + CONTEXT_COLUMNS

# A run's aggregates over one batch's new steps (traces.ingest.runs), in COPY order: what the store
# merges into traces_run.
RUN_COLUMNS = (
    "project_id", "trace_id", "root_span_id", "name", "agent", "agent_rank", "bundle", "bundle_source",
    "environment", "environment_rank", "session_id", "session_rank", "user_id", "user_rank", "start_time",
    "end_time", "root_ended", "step_count", "llm_calls", "tool_calls", "error_count", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "unpriced_steps",
    "reported_cost_usd", "models_used", "tools_used", "input_preview", "input_preview_ns", "output_preview",
    "output_preview_ns", "tags", "resource", "resource_rank",
)  # fmt: skip

# traces_run's bounded texts (traces.models.Run; a test keeps the two equal). A longer value is cut to
# fit on the run (traces.ingest.runs), and a step whose run context was cut keeps the whole value in
# its context (traces.ingest.rows): a 300-character session id must not fail its whole batch.
RUN_TEXT_LIMITS = {"name": 500, "agent": 200, "bundle": 200, "environment": 100, "session_id": 200, "user_id": 200}
RUN_ITEM_LIMIT = 200  # each of a run's models_used, tools_used and tags
