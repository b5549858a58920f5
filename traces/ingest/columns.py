"""The columns ingest writes: traces_step's, and the staging table's that feeds them (and the run)."""

# Columns of traces_step written by ingest.
STEP_COLUMNS = (
    "project_id", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
    "duration_ns", "status", "error_type", "error_message", "model", "provider", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "usage_is_aggregate",
    "cost_usd", "priced", "unpriced_reason", "reported_cost_usd", "tool_name", "tool_call_id", "input",
    "output", "attributes", "events", "convention", "context",
)  # fmt: skip

# The staging table, in COPY order (traces.ingest.rows builds its rows): a step's columns, except that
# times come as nanoseconds (the store computes start_time, end_time and duration_ns from them), then
# run context and previews, used for the run aggregates and not stored per step.
STAGE_COLUMNS = (
    "project_id", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "status",
    "error_type", "error_message", "model", "provider", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "usage_is_aggregate", "cost_usd", "priced", "unpriced_reason",
    "reported_cost_usd", "tool_name", "tool_call_id", "input", "output", "attributes", "events", "convention",
    "context",
    "is_root", "needs_price", "agent", "agent_rank", "bundle", "bundle_rank", "environment", "session_id",
    "user_id", "input_preview", "output_preview", "tags", "resource",
)  # fmt: skip
