"""JSON lines: the export of a set's version, and the parsing of an import.

Export: one case per line, `presenters.case_dict` with payloads, in the set's order; nothing else.

Import: one JSON object per line (blank lines are skipped), with the case's `input` (required),
`expected_output`, `assertions`, `tags`, `notes`, and optionally `case_key` and `source` (as exported:
trace_id, span_id, agent, bundle, status, at). The keys an export adds that the server sets itself
(`added_in`, `added_by`, `reviewed_by`, `created_at`) are accepted and ignored, so an export imports
as it is. Errors name the line: `line 3: assertions[0].value`. At most MAX_LINES lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.utils.dateparse import parse_datetime

from agentops.goldens.models import GoldenCase
from agentops.goldens.presenters import case_dict
from agentops.goldens.validation import (
    CASE_FIELDS,
    GoldenError,
    check_case_size,
    clean_case_fields,
    clean_case_key,
    clean_span_id,
    clean_trace_id,
)

MAX_LINES = 10_000
IGNORED = frozenset({"added_in", "added_by", "reviewed_by", "created_at"})
ALLOWED = CASE_FIELDS | {"case_key", "source"} | IGNORED
SOURCE_KEYS = frozenset({"trace_id", "span_id", "agent", "bundle", "status", "at"})


def export_lines(cases: Iterator[GoldenCase]) -> Iterator[bytes]:
    for case in cases:
        yield json.dumps(case_dict(case, payloads=True), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _short_text(source: dict[str, Any], key: str, limit: int, where: str) -> str:
    value = source.get(key) or ""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise GoldenError(f"{where}source.{key}", f"give text of at most {limit} characters")
    return value


def _source(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GoldenError(f"{where}source", "give an object or null")
    for key in value:
        if key not in SOURCE_KEYS:
            raise GoldenError(
                f"{where}source.{str(key)[:60]}", f"unknown field; allowed: {', '.join(sorted(SOURCE_KEYS))}"
            )
    out: dict[str, Any] = {
        "source_agent": _short_text(value, "agent", 200, where),
        "source_bundle": _short_text(value, "bundle", 200, where),
        "source_status": _short_text(value, "status", 16, where),
    }
    if value.get("trace_id") is not None:
        out["source_trace_id"] = clean_trace_id(value["trace_id"], f"{where}source.trace_id")
    if value.get("span_id") is not None:
        out["source_span_id"] = clean_span_id(value["span_id"], f"{where}source.span_id")
    if value.get("at") is not None:
        at = parse_datetime(value["at"]) if isinstance(value["at"], str) else None
        if at is None or at.tzinfo is None:
            raise GoldenError(f"{where}source.at", "give an ISO 8601 date-time with a time zone")
        out["source_at"] = at
    return out


def parse_import(body: bytes) -> list[dict[str, Any]]:
    """The lines of an import as {"case_key", "fields", "source"}; GoldenError naming the line."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise GoldenError("body", "send UTF-8 JSON lines") from None
    parsed: list[dict[str, Any]] = []
    keys: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(parsed) >= MAX_LINES:
            raise GoldenError("body", f"at most {MAX_LINES} cases per import")
        where = f"line {number}: "
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            raise GoldenError(f"line {number}", "not a JSON object") from None
        if not isinstance(data, dict):
            raise GoldenError(f"line {number}", "not a JSON object")
        for key in data:
            if key not in ALLOWED:
                raise GoldenError(f"{where}{str(key)[:60]}", "unknown field")
        fields = clean_case_fields({k: v for k, v in data.items() if k in CASE_FIELDS}, where)
        if fields.get("input") is None:
            raise GoldenError(f"{where}input", "required")
        check_case_size(fields, f"{where}input")
        key = clean_case_key(data["case_key"], f"{where}case_key") if data.get("case_key") is not None else None
        if key is not None:
            if key in keys:
                raise GoldenError(f"{where}case_key", "this case_key is on an earlier line too")
            keys.add(key)
        parsed.append({"case_key": key, "fields": fields, "source": _source(data.get("source"), where)})
    if not parsed:
        raise GoldenError("body", "no cases: send one JSON object per line")
    return parsed
