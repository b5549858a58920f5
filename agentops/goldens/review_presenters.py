"""Sampling rules and review items as plain dicts for the API. A run's previews (payloads) appear only
with `payloads`; without the payload permission an item is its run's name, agent, bundle and status."""

from __future__ import annotations

import uuid
from typing import Any

from agentops.goldens.models import ReviewItem, SamplingRule
from traces.models import Run


def _who(user: Any) -> str | None:
    return str(user) if user is not None else None


def rule_dict(rule: SamplingRule, *, pending: int | None = None) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "golden_set": rule.golden_set.name,
        "filter": rule.filter,
        "sample_rate": float(rule.sample_rate),
        "auto_accept": rule.auto_accept,
        "enabled": rule.enabled,
        "pending": getattr(rule, "pending", 0) if pending is None else pending,
        "cursor": {"updated_at": rule.cursor_at.isoformat(), "run_id": rule.cursor_id},
        "created_by": _who(rule.created_by),
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }


def run_summary(run: Run | None, *, payloads: bool) -> dict[str, Any] | None:
    """None when the run is no longer stored (retention)."""
    if run is None:
        return None
    data: dict[str, Any] = {
        "name": run.name,
        "agent": run.agent,
        "bundle": run.bundle,
        "status": run.status,
        "start_time": run.start_time.isoformat(),
        "duration_ms": run.duration_ms,
    }
    if payloads:
        data |= {"input_preview": run.input_preview, "output_preview": run.output_preview}
    return data


def item_dict(item: ReviewItem, runs: dict[uuid.UUID, Run], *, payloads: bool) -> dict[str, Any]:
    return {
        "id": item.pk,
        "rule": {"id": item.rule_id, "name": item.rule.name},
        "golden_set": item.rule.golden_set.name,
        "trace_id": item.trace_id.hex,
        "state": item.state,
        "note": item.note,
        "run": run_summary(runs.get(item.trace_id), payloads=payloads),
        "created_at": item.created_at.isoformat(),
        "decided_by": _who(item.decided_by),
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "case_key": item.case.case_key if item.case else None,
    }
