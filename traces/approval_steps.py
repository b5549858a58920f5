"""A run's approval requests as APPROVAL steps of its replay. Pure: no database, no request.

An agent asks for approval in the middle of a tool call (agentops.approvals); the request is stored apart
from spans, tied to its run by `trace_id` and to the step that asked by `span_id`. Either may arrive
first: the tool span is exported only when it ends, after the decision, while the request exists from
the moment it is asked. So the request is placed when the replay is read, never at ingest:

- under the step its `span_id` names when that span is stored, else under the run's root span, else
  (no root stored yet) at the top level; among its siblings by `created_at`, as spans are by start;
- as a bar from `created_at` to `decided_at` (still pending: to now): how long the agent waited.

Its id in the tree is "approval-<id>", which no span id (16 hex digits) can be, and its panel comes from
its own route (run_approval_panel), named by the row's `data-panel`.

A rejected or expired request is not an error step: a reviewer's no is the process working, not a fault
of the run. If the agent then fails, its tool step is the error the player's "first error" jumps to.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.urls import reverse

from agentops.approvals.models import ApprovalRequest

Step = dict[str, Any]

PREFIX = "approval-"


def approval_page_url(slug: str, approval_id: int) -> str:
    """The request's own page in the approvals inbox: the one place the replay links to it."""
    return reverse("approval_detail", kwargs={"slug": slug, "approval_id": approval_id})


def wait_text(seconds: float) -> str:
    """A wait for a human, to the second under a minute and to the minute above an hour."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def waited_seconds(approval: ApprovalRequest, now: datetime) -> float:
    """How long the agent waited: to the decision (or expiry, or cancel), or so far while pending."""
    end = approval.decided_at or now
    return (end - approval.created_at).total_seconds()


def approval_step(approval: ApprovalRequest, *, now: datetime, panel_url: str) -> Step:
    """The request as a step dict (the keys of traces.presenters.step_dict the tree, the waterfall and
    the player read), without payloads: its arguments are read only by its panel."""
    pending = approval.state == ApprovalRequest.State.PENDING
    waited = waited_seconds(approval, now)
    return {
        "span_id": f"{PREFIX}{approval.pk}",
        "parent_span_id": approval.span_id,  # placed by with_approvals
        "name": approval.action,
        "kind": "APPROVAL",
        "start_time": approval.created_at.isoformat(),
        "end_time": approval.decided_at.isoformat() if approval.decided_at else None,
        "duration_ms": waited * 1000,
        "status": "unfinished" if pending else "ok",
        "error": None,
        "model": None,
        "tool_name": None,
        "approval_id": approval.pk,
        "state": approval.state,
        "risk": approval.risk,
        "waiting": pending,
        "wait": wait_text(waited),
        "asked_by": approval.span_id,
        "panel_url": panel_url,
    }


def with_approvals(
    steps: list[Step], starts: Sequence[datetime], approvals: Sequence[tuple[datetime, Step]], root: str | None
) -> list[Step]:
    """`steps` (step dicts in start order, `starts` their start times) with the approval steps
    (`(created_at, step)`, any order) merged in by time, each given its parent: the step that asked if
    stored, else `root` if stored, else none. The result is what traces.presenters.step_tree nests."""
    if not approvals:
        return steps
    stored = {s["span_id"] for s in steps}
    fallback = root if root in stored else None
    merged = list(steps)
    times = list(starts)
    for created, step in sorted(approvals, key=lambda pair: (pair[0], pair[1]["approval_id"])):
        step["parent_span_id"] = step["asked_by"] if step["asked_by"] in stored else fallback
        # After every step that started at the same time: an asking tool step starts before its request.
        at = bisect.bisect_right(times, created)
        merged.insert(at, step)
        times.insert(at, created)
    return merged
