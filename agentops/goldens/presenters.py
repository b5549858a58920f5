"""Golden sets and cases as plain dicts for the API and the JSON lines export.

Payloads (a case's input, expected output and notes, and its assertions' parameters, which hold expected
values) appear only with `payloads`: without the payload permission a case is its key, tags, source,
people and the types of its assertions.
"""

from __future__ import annotations

from typing import Any

from agentops.goldens.models import GoldenCase, GoldenSet, GoldenSetVersion
from traces.ids import span_hex


def _who(user: Any) -> str | None:
    return str(user) if user is not None else None


def version_dict(version: GoldenSetVersion | None, number: int) -> dict[str, Any]:
    if version is None:  # version 0: the set as created, empty
        return {"number": number, "note": "created", "added": 0, "edited": 0, "removed": 0}
    return {
        "number": version.number,
        "note": version.note,
        "added": version.added,
        "edited": version.edited,
        "removed": version.removed,
        "created_by": _who(version.created_by),
        "created_at": version.created_at.isoformat(),
    }


def set_dict(golden_set: GoldenSet, *, case_count: int, version: int | None = None) -> dict[str, Any]:
    return {
        "name": golden_set.name,
        "description": golden_set.description,
        "version": golden_set.version if version is None else version,
        "current_version": golden_set.version,
        "case_count": case_count,
        "created_by": _who(golden_set.created_by),
        "created_at": golden_set.created_at.isoformat(),
        "updated_at": golden_set.updated_at.isoformat(),
    }


def source_dict(case: GoldenCase) -> dict[str, Any] | None:
    if case.source_trace_id is None and not case.source_bundle and not case.source_agent:
        return None
    return {
        "trace_id": case.source_trace_id.hex if case.source_trace_id else None,
        "span_id": span_hex(case.source_span_id),
        "agent": case.source_agent,
        "bundle": case.source_bundle,
        "status": case.source_status,
        "at": case.source_at.isoformat() if case.source_at else None,
    }


def case_dict(case: GoldenCase, *, payloads: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case_key": case.case_key,
        "added_in": case.added_in,
        "tags": case.tags,
        "source": source_dict(case),
        "added_by": _who(case.added_by),
        "reviewed_by": _who(case.reviewed_by),
        "created_at": case.created_at.isoformat(),
    }
    if payloads:
        data |= {
            "input": case.input,
            "expected_output": case.expected_output,
            "assertions": case.assertions,
            "notes": case.notes,
        }
    else:
        data["assertions"] = [
            {"type": a.get("type"), **({"name": a["name"]} if "name" in a else {})} for a in case.assertions
        ]
    return data
