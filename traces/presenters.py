"""Runs and steps as plain dicts for the API and JSON export (ids as lowercase hex, as in OTLP/JSON).

A step's log records (POST /v1/logs) are a `logs` list beside its span `events`, in time order: kept
apart because they are not part of the span as sent (the export of a span's events stays what the SDK
sent), and each source has its own fields. For a caller without the payload permission a record is its
time and event name only. When a step has no input or output of its own and its records carry GenAI
message events, its `input` / `output` are the messages made of them, and `derived_from_logs` names
those fields: gen_ai.user.message, gen_ai.choice, ... (what older OTel GenAI instrumentations send to
/v1/logs instead of the span), converted as span events are (traces.ingest.conventions.otel_genai); or
gen_ai.client.inference.operation.details, whose attributes hold gen_ai.input.messages and
gen_ai.output.messages (current instrumentations with content capture EVENT_ONLY).

Plain functions rather than DRF serializers: a run of thousands of steps is turned into JSON on every
replay, and this is several times cheaper per step.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from traces.ids import span_hex
from traces.ingest.logs import log_messages
from traces.models import LogRecord, Run, Step


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def run_dict(run: Run, *, payloads: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "trace_id": run.trace_id.hex,
        "name": run.name,
        "agent": run.agent,
        "bundle": run.bundle,
        "bundle_source": run.bundle_source,
        "environment": run.environment,
        "session_id": run.session_id,
        "user_id": run.user_id,
        "status": run.status,
        "start_time": run.start_time.isoformat(),
        "end_time": run.end_time.isoformat() if run.end_time else None,
        "duration_ms": run.duration_ms,
        "step_count": run.step_count,
        "llm_calls": run.llm_calls,
        "tool_calls": run.tool_calls,
        "error_count": run.error_count,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "cache_read_tokens": run.cache_read_tokens,
        "cache_write_tokens": run.cache_write_tokens,
        "reasoning_tokens": run.reasoning_tokens,
        "cost_usd": _money(run.cost_usd),
        "cost_complete": run.cost_complete,
        "unpriced_steps": run.unpriced_steps,
        "reported_cost_usd": _money(run.reported_cost_usd),
        "models": run.models_used,
        "tools": run.tools_used,
    }
    if payloads:
        data["input_preview"] = run.input_preview
        data["output_preview"] = run.output_preview
    return data


def step_dict(step: Step, *, payloads: bool, full: bool = False, error_messages: bool | None = None) -> dict[str, Any]:
    """A step as the API and pages show it. Exception messages repeat tool arguments ("refund of 4990.00
    USD exceeds order total 49.90 for ORD-7301"): they are payload, shown only with the payload
    permission (`error_messages`, by default as `payloads`; the replay's tree holds no payloads but
    shows the message to those who may see it). The exception type is always shown."""
    if error_messages is None:
        error_messages = payloads
    data: dict[str, Any] = {
        "span_id": span_hex(step.span_id),
        "parent_span_id": span_hex(step.parent_span_id),
        "name": step.name,
        "kind": step.kind,
        "start_time": step.start_time.isoformat(),
        "end_time": step.end_time.isoformat() if step.end_time else None,
        "duration_ms": step.duration_ns / 1e6 if step.duration_ns is not None else None,
        "status": step.status,
        "error": (step.error_message if error_messages else None) or step.error_type,
        "error_type": step.error_type,
        "model": step.model,
        "provider": step.provider,
        "input_tokens": step.input_tokens,
        "output_tokens": step.output_tokens,
        "cache_read_tokens": step.cache_read_tokens,
        "cache_write_tokens": step.cache_write_tokens,
        "reasoning_tokens": step.reasoning_tokens,
        "usage_is_aggregate": step.usage_is_aggregate,
        "cost_usd": _money(step.cost_usd),
        "priced": step.priced,
        "unpriced_reason": step.unpriced_reason,
        "reported_cost_usd": _money(step.reported_cost_usd),
        "tool_name": step.tool_name,
        "tool_call_id": step.tool_call_id,
        "convention": step.convention,
    }
    if payloads:
        data["input"] = step.input
        data["output"] = step.output
        if full:
            data["attributes"] = step.attributes
            data["events"] = step.events
    if full:
        data["trace_id"] = step.trace_id.hex
        # Another step records the same model call and counts its usage (traces.ingest.duplicates).
        data["duplicate_of"] = (step.context or {}).get("duplicate_of")
    return data


def step_tree(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nest steps (already in start order) under their parents; orphans (parent not arrived) are roots."""
    by_id = {s["span_id"]: s for s in steps}
    parent_of = {s["span_id"]: s["parent_span_id"] if s["parent_span_id"] in by_id else None for s in steps}
    # A broken exporter can make a span its own ancestor; nested as sent, that loop would hang from no
    # root and vanish from the tree. It is cut where a walk up from a step meets it again.
    settled: set[str] = set()
    for s in steps:
        path: set[str] = set()
        node = s["span_id"]
        while node is not None and node not in settled:
            if node in path:
                parent_of[node] = None
                break
            path.add(node)
            node = parent_of[node]
        settled |= path
    roots: list[dict[str, Any]] = []
    for s in steps:
        s["children"] = []
    for s in steps:
        parent = parent_of[s["span_id"]]
        (by_id[parent]["children"] if parent is not None else roots).append(s)
    return roots


def log_dict(record: LogRecord, *, payloads: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "time": record.time.isoformat(),
        "time_ns": record.time_ns,
        "event_name": record.event_name,
    }
    if payloads:
        data |= {
            "observed_time": record.observed_time.isoformat() if record.observed_time else None,
            "severity_number": record.severity_number,
            "severity_text": record.severity_text,
            "body": record.body,
            "attributes": record.attributes,
            "scope": record.scope_name,
        }
    return data


def with_logs(data: dict[str, Any], logs: list[dict[str, Any]]) -> dict[str, Any]:
    """`data` (a step_dict) with its log records (log_dicts, in time order) and, when it carries payloads
    but has no input or output of its own, the messages its records hold."""
    data["logs"] = logs
    if not logs or "input" not in data:
        return data
    derived = []
    for field in ("input", "output"):
        if data[field] is None:
            messages = log_messages(logs, field)
            if messages:
                data[field] = messages
                derived.append(field)
    if derived:
        data["derived_from_logs"] = derived
    return data
