"""Cases and versions as the golden set pages show them: the API's dicts (agentops.goldens.presenters, so
the payload rules are the API's) with what a page adds: a one-line input summary, pretty JSON, and the
link to the source run's replay at its step.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from agentops.goldens.models import GoldenCase, GoldenSetVersion
from agentops.goldens.presenters import case_dict
from traces import replay

SUMMARY_CHARS = 160


def _short(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def summary(value: Any) -> str:
    """One line for an input: a message list's last user message (what was asked), else the JSON."""
    if replay.is_messages(value):
        asked = [m for m in value if m.get("role") == "user"] or value
        parts = asked[-1].get("parts") or []
        texts = [str(p["content"]) for p in parts if isinstance(p, dict) and isinstance(p.get("content"), str)]
        if texts:
            return _short(" ".join(texts))
    return _short(replay.pretty(value))


def replay_url(slug: str, trace_hex: str, span_hex: str | None) -> str:
    url = reverse("run_replay", kwargs={"slug": slug, "trace_id": trace_hex})
    return f"{url}?{urlencode({'span': span_hex})}" if span_hex else url


def case_row(case: GoldenCase, *, payloads: bool, slug: str) -> dict[str, Any]:
    row = case_dict(case, payloads=payloads)
    source = row["source"]
    if source and source["trace_id"]:
        source["replay_url"] = replay_url(slug, source["trace_id"], source["span_id"])
    row["assertion_types"] = [a.get("type") for a in row["assertions"]]
    if payloads:
        row["input_summary"] = summary(case.input)
        row["input_pretty"] = replay.pretty(case.input)
        row["expected_pretty"] = replay.pretty(case.expected_output) if case.expected_output is not None else ""
        row["assertions_pretty"] = replay.pretty(case.assertions)
    return row


def version_row(version: GoldenSetVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "note": version.note,
        "added": version.added,
        "edited": version.edited,
        "removed": version.removed,
        "created_by": str(version.created_by) if version.created_by else None,
        "created_at": version.created_at,
    }
