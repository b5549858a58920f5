"""Decoding an OTLP logs export request (POST /v1/logs) into `LogRecord`s, staging them for the store,
and encoding the answer.

`decode_logs_request(body, content_type)` takes a decompressed body and returns `DecodedLogs`: the
records that belong to a span, and a `Rejection` for each record that does not (no trace id or span id:
agentops attaches records to the steps of a run, and has nowhere to put the others) or cannot be stored
(no time, ids of the wrong length). One bad record never fails the request; a body that is not an
ExportLogsServiceRequest at all raises `DecodeError` (400), an unsupported Content-Type
`UnsupportedMediaType` (415).

OTLP/JSON is walked with the trace decoder's own value and attribute walkers (traces.ingest.decode_json):
hex ids, camelCase or snake_case keys, 64-bit integers as strings or numbers, enums as numbers or names.

`log_messages` makes, at read time, the messages a step's records carry (GenAI log events), with the
convention's own event readers (traces.ingest.conventions.otel_genai).

`stage_logs` turns records into rows for traces_logrecord: redacted by the project's policy as span
payloads are (a log body and its attributes are payload: GenAI instrumentations put prompts and
completions there), and keyed by a digest of the record as sent, so that an exporter's retry stores
nothing twice whatever the policy did to the text. Pure: no database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from traces.ids import span_from_valid_hex
from traces.ingest import decode_json as dj
from traces.ingest import messages as m
from traces.ingest.conventions.otel_genai import details_messages, details_system, event_input, event_output
from traces.ingest.decode import JSON, PROTOBUF, _pb_attributes, _pb_value, media_type, response_media_type
from traces.ingest.errors import DecodeError
from traces.ingest.redact import RedactionPolicy, is_content_key, redact_texts
from traces.ingest.rows import _clean_text, _json, timestamp_text
from traces.ingest.spans import Attributes, Rejection, SpanEvent

# 2^63 ns after 1970 is 2262-04-11, the last time the store takes (as for steps, traces.ingest.rows).
_MAX_NS = (1 << 63) - 1
_SEVERITIES = dict(SeverityNumber.items())
# Before LogRecord.event_name (OTLP 1.5), the SDKs' Events API named an event in this attribute.
EVENT_NAME_ATTRIBUTE = "event.name"

NO_TRACE_CONTEXT = (
    "has no trace context (traceId and spanId): agentops keeps log records that belong to a span of a "
    "traced run; emit it inside a span, or send it to a logs backend"
)


@dataclass(frozen=True, slots=True)
class LogRecord:
    trace_id: bytes  # 16 bytes, not all zero
    span_id: bytes  # 8 bytes, not all zero
    time_unix_nano: int  # the record's time, else its observed time (as the OTLP spec says to read it)
    observed_time_unix_nano: int  # 0 when not sent
    severity_number: int
    severity_text: str
    event_name: str  # LogRecord.event_name, else the event.name attribute; "" for a plain log line
    body: Any  # the AnyValue as Python (str, dict for a kvlist, ...); None when empty
    attributes: Attributes
    scope_name: str


@dataclass(frozen=True, slots=True)
class DecodedLogs:
    records: list[LogRecord]
    rejections: list[Rejection]
    received: int  # records in the request, valid or not


def decode_logs_request(body: bytes, content_type: str) -> DecodedLogs:
    if media_type(content_type) == PROTOBUF:
        return _decode_protobuf(body)
    return _decode_json(body)


def rejection_message(reasons: Sequence[str]) -> str:
    """The partial_success error_message: how many records were rejected and the first problem."""
    if not reasons:
        return ""
    count = len(reasons)
    return f"{count} log record{'s' if count != 1 else ''} rejected; first: {reasons[0]}"


def _record(
    index: int,
    trace_id: bytes,
    span_id: bytes,
    time_ns: int,
    observed_ns: int,
    severity_number: int,
    severity_text: str,
    event_name: str,
    body: Any,
    attributes: Attributes,
    scope_name: str,
) -> LogRecord | Rejection:
    """The record, or the Rejection saying why it cannot be kept."""

    def rejected(problem: str) -> Rejection:
        return Rejection(index=index, reason=f"log record {index}: {problem}")

    if not trace_id.strip(b"\x00") or not span_id.strip(b"\x00"):
        return rejected(NO_TRACE_CONTEXT)
    if len(trace_id) != 16:
        return rejected(f"traceId must be 16 bytes, got {len(trace_id)}")
    if len(span_id) != 8:
        return rejected(f"spanId must be 8 bytes, got {len(span_id)}")
    time_ns = time_ns or observed_ns
    if not time_ns:
        return rejected("has neither timeUnixNano nor observedTimeUnixNano")
    if time_ns > _MAX_NS or observed_ns > _MAX_NS:
        return rejected("timestamps after 2262-04-11 cannot be stored")
    if not event_name and isinstance(attributes.get(EVENT_NAME_ATTRIBUTE), str):
        event_name = attributes[EVENT_NAME_ATTRIBUTE]
    return LogRecord(
        trace_id=trace_id,
        span_id=span_id,
        time_unix_nano=time_ns,
        observed_time_unix_nano=observed_ns,
        severity_number=severity_number if 0 <= severity_number <= 24 else 0,
        severity_text=severity_text,
        event_name=event_name,
        body=body,
        attributes=attributes,
        scope_name=scope_name,
    )


# --- protobuf -----------------------------------------------------------------------------------


def _decode_protobuf(body: bytes) -> DecodedLogs:
    try:
        request = ExportLogsServiceRequest.FromString(body)
    except (ProtobufDecodeError, ValueError) as exc:
        if _is_trace_export(body):  # an exporter pointed at the wrong path: say which one takes it
            raise DecodeError(
                "body is an OTLP traces export, and /v1/logs takes logs only: send it to /v1/traces"
            ) from exc
        raise DecodeError(f"body is not a valid OTLP ExportLogsServiceRequest protobuf: {exc}") from exc
    records: list[LogRecord] = []
    rejections: list[Rejection] = []
    index = 0
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            scope_name = scope_logs.scope.name
            for pb in scope_logs.log_records:
                found = _record(
                    index,
                    pb.trace_id,
                    pb.span_id,
                    pb.time_unix_nano,
                    pb.observed_time_unix_nano,
                    pb.severity_number,
                    pb.severity_text,
                    pb.event_name,
                    _pb_value(pb.body) if pb.HasField("body") else None,
                    _pb_attributes(pb.attributes),
                    scope_name,
                )
                _keep(found, records, rejections)
                index += 1
    return DecodedLogs(records=records, rejections=rejections, received=index)


def _is_trace_export(body: bytes) -> bool:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (ProtobufDecodeError, ValueError):
        return False
    spans = (span for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans)
    return any(span.name and len(span.trace_id) == 16 and len(span.span_id) == 8 for span in spans)


def _keep(found: LogRecord | Rejection, records: list[LogRecord], rejections: list[Rejection]) -> None:
    if isinstance(found, LogRecord):
        records.append(found)
    else:
        rejections.append(found)


# --- OTLP/JSON ----------------------------------------------------------------------------------


def _json_record(obj: Any, index: int, scope_name: str) -> LogRecord | Rejection:
    if not isinstance(obj, dict):
        raise dj._Invalid(f"must be an object, got {type(obj).__name__}")
    return _record(
        index,
        dj._hex_id(obj, "traceId", "trace_id"),
        dj._hex_id(obj, "spanId", "span_id"),
        dj._time(obj, "timeUnixNano", "time_unix_nano"),
        dj._time(obj, "observedTimeUnixNano", "observed_time_unix_nano"),
        dj._enum(dj._get(obj, "severityNumber", "severity_number"), _SEVERITIES, "severityNumber"),
        dj._string(obj, "severityText", "severity_text"),
        dj._string(obj, "eventName", "event_name"),
        dj._json_value(dj._get(obj, "body", "body")),
        dj._json_attributes(dj._list(obj, "attributes", "attributes")),
        scope_name,
    )


def load_json(body: bytes) -> dict[str, Any]:
    """The JSON object of a body, read as the trace decoder reads one (lone surrogates replaced)."""
    try:
        document = json.loads(body)
    except ValueError as exc:  # includes bad UTF-8
        raise DecodeError(f"body is not valid JSON: {exc}") from exc
    if dj._LONE_SURROGATE_ESCAPE.search(body):
        document = dj._without_lone_surrogates(document)
    if not isinstance(document, dict):
        raise DecodeError(f"an OTLP/JSON body must be an object, got {type(document).__name__}")
    return document


def _decode_json(body: bytes) -> DecodedLogs:
    document = load_json(body)
    if "resourceLogs" not in document and "resource_logs" not in document:
        for signal, camel, snake in (
            ("traces", "resourceSpans", "resource_spans"),
            ("metrics", "resourceMetrics", "resource_metrics"),
        ):
            if camel in document or snake in document:
                raise DecodeError(
                    f"body is an OTLP {signal} export, and /v1/logs takes logs only: send it to /v1/{signal}"
                )
    records: list[LogRecord] = []
    rejections: list[Rejection] = []
    index = 0
    try:
        resource_logs_list = dj._list(document, "resourceLogs", "resource_logs")
    except dj._Invalid as exc:
        raise DecodeError(str(exc)) from None
    for r_position, resource_logs in enumerate(resource_logs_list):
        where = f"resourceLogs[{r_position}]"
        if not isinstance(resource_logs, dict):
            raise DecodeError(f"{where} must be an object")
        try:
            scope_logs_list = dj._list(resource_logs, "scopeLogs", "scope_logs")
        except dj._Invalid as exc:
            raise DecodeError(f"{where}: {exc}") from None
        for s_position, scope_logs in enumerate(scope_logs_list):
            if not isinstance(scope_logs, dict):
                raise DecodeError(f"{where}.scopeLogs[{s_position}] must be an object")
            try:
                record_list = dj._list(scope_logs, "logRecords", "log_records")
            except dj._Invalid as exc:
                raise DecodeError(f"{where}.scopeLogs[{s_position}]: {exc}") from None
            scope_problem = None
            scope_name = ""
            try:
                scope_name = dj._string(dj._object(scope_logs, "scope", "scope"), "name", "name")
            except dj._Invalid as exc:
                scope_problem = f"scope: {exc}"
            for item in record_list:
                try:
                    if scope_problem:
                        raise dj._Invalid(scope_problem)
                    found = _json_record(item, index, scope_name)
                except dj._Invalid as exc:
                    found = Rejection(index=index, reason=f"log record {index}: {exc}")
                _keep(found, records, rejections)
                index += 1
    return DecodedLogs(records=records, rejections=rejections, received=index)


# --- staging --------------------------------------------------------------------------------------

# traces_logrecord's columns as ingest writes them, in this order (see traces.services.ingest_logs).
LOG_COLUMNS = (
    "project_id",
    "trace_id",
    "span_id",
    "time",
    "time_ns",
    "observed_time",
    "severity_number",
    "severity_text",
    "event_name",
    "body",
    "attributes",
    "scope_name",
    "digest",
)


def digest(record: LogRecord) -> str:
    """A hex SHA-256 of the record as sent: equal for an exporter's retry of it, and for nothing else
    that could be told apart from it."""
    identity = (
        record.trace_id.hex(),
        record.span_id.hex(),
        record.time_unix_nano,
        record.observed_time_unix_nano,
        record.severity_number,
        record.severity_text,
        record.event_name,
        record.body,
        record.attributes,
        record.scope_name,
    )
    return hashlib.sha256(orjson.dumps(identity, default=repr, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _kept_attributes(attributes: Attributes, policy: RedactionPolicy) -> Attributes:
    if not policy.drop_content:
        return attributes
    return {key: value for key, value in attributes.items() if not is_content_key(key)}


def stage_logs(records: Sequence[LogRecord], *, project_id: int, policy: RedactionPolicy) -> list[dict[str, Any]]:
    """Rows (dicts by LOG_COLUMNS) for the store, one per distinct record, in (trace, span, time) order:
    the one lock order of every batch. With drop_content the body (a log event's body is its message)
    and the content attributes are not kept; the record's name, time and severity are."""
    rows: dict[str, tuple[tuple[str, int, int], dict[str, Any]]] = {}
    for record in records:
        key = digest(record)
        if key in rows:  # the same record twice in one request: stored once
            continue
        body = None if policy.drop_content else _json(record.body)
        span_id = span_from_valid_hex(record.span_id.hex())
        rows[key] = (
            (record.trace_id.hex(), span_id, record.time_unix_nano),
            {
                "project_id": project_id,
                "trace_id": record.trace_id.hex(),
                "span_id": span_id,
                "time": timestamp_text(record.time_unix_nano),
                "time_ns": record.time_unix_nano,
                "observed_time": timestamp_text(record.observed_time_unix_nano)
                if record.observed_time_unix_nano
                else None,
                "severity_number": record.severity_number,
                "severity_text": _clean_text(record.severity_text) or "",
                "event_name": _clean_text(record.event_name) or "",
                "body": body,
                "attributes": _json(_kept_attributes(record.attributes, policy)) or "{}",
                "scope_name": _clean_text(record.scope_name) or "",
                "digest": key,
            },
        )
    staged = [row for _, row in sorted(rows.values(), key=lambda pair: pair[0])]
    if policy.has_rules:
        places = [
            (row, column) for row in staged for column in ("body", "attributes") if row[column] not in (None, "{}")
        ]
        texts = [row[column] for row, column in places]
        for (row, column), text in zip(
            places, redact_texts(texts, policy, json_texts=[True] * len(texts)), strict=True
        ):
            row[column] = text
    return staged


# --- messages of log records (read time) -------------------------------------------------------


def _as_event(log: Mapping[str, Any]) -> SpanEvent:
    """A log record as the span event an older instrumentation would have written: its body's fields
    (content, tool_calls, message, ...) as the event's attributes."""
    body = log.get("body")
    fields = body if isinstance(body, dict) else {"content": body}
    return SpanEvent(log["event_name"], log["time_ns"], {**(log.get("attributes") or {}), **fields})


def _messages_of(events: list[SpanEvent], field: str) -> list[m.Message] | None:
    """The input or output messages GenAI events carry, read as the convention reads span events: a
    gen_ai.client.inference.operation.details event's attributes first, else per-message events."""
    if field == "output":
        return details_messages(events, "gen_ai.output.messages") or event_output(events)
    found = details_messages(events, "gen_ai.input.messages") or event_input(events)
    system = details_system(events)
    return m.with_system(found, system) if found is not None or system is not None else None


def log_messages(logs: Sequence[Mapping[str, Any]], field: str) -> list[m.Message] | None:
    """The "input" or "output" messages that a step's log records carry (records as
    traces.presenters.log_dict gives them, in time order: event_name, time_ns, body, attributes); None
    when they carry none. Read at display time, never stored: the records are kept as sent."""
    events = [_as_event(log) for log in logs if log.get("event_name")]
    return _messages_of(events, field) if events else None


# --- answers ----------------------------------------------------------------------------------------


def encode_logs_response(rejected: int, message: str, content_type: str | None) -> bytes:
    """An ExportLogsServiceResponse; partial_success unset on full success, as the spec asks."""
    if response_media_type(content_type) == JSON:
        if not (rejected or message):
            return b"{}"
        partial = {"rejectedLogRecords": str(rejected), "errorMessage": message}  # int64 as a string
        return orjson.dumps({"partialSuccess": partial})
    if not (rejected or message):
        return b""
    partial_pb = ExportLogsPartialSuccess(rejected_log_records=rejected, error_message=message)
    return ExportLogsServiceResponse(partial_success=partial_pb).SerializeToString()
