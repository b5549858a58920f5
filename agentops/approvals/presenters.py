"""The JSON of an approval request, for agents and reviewers. Without the payload permission the
content (arguments, the edits, the summary) is left out and `payloads_hidden` says so.

Also the links to a request's page (approval_path, approval_url for notifications) and the figures of
the history as the pages show them (figures_context, for the history page and the dashboard's card)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from agentops.approvals.history import FigureRow, Figures
from agentops.approvals.models import ApprovalRequest
from agentops.tenancy.models import Project


def _creator(approval: ApprovalRequest) -> str:
    if approval.created_by_key is not None:
        return f"ingest key {approval.created_by_key.prefix}…"
    if approval.created_by_user is not None:
        return approval.created_by_user.email
    return "deleted"


def approval_dict(approval: ApprovalRequest, *, payloads: bool) -> dict[str, Any]:
    decisions = [
        {
            "reviewer": d.reviewer.email,
            "decision": d.decision,
            "comment": d.comment,
            "at": d.at.isoformat(),
            "edited": d.arguments is not None,
            **({"arguments": d.arguments} if payloads else {}),
        }
        for d in approval.decisions.all()
    ]
    body: dict[str, Any] = {
        "id": approval.pk,
        "project": approval.project.slug,
        "action": approval.action,
        "risk": approval.risk,
        "state": approval.state,
        "trace_id": approval.trace_id or None,
        "span_id": approval.span_id,
        "idempotency_key": approval.idempotency_key,
        "required_approvals": approval.required_approvals,
        "approvals": sum(1 for d in decisions if d["decision"] == "approve"),
        "on_timeout": approval.on_timeout,
        "escalated": approval.escalated_at is not None,
        "expires_at": approval.expires_at.isoformat(),
        "created_at": approval.created_at.isoformat(),
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "created_by": _creator(approval),
        "decisions": decisions,
        "payloads_hidden": not payloads,
    }
    if payloads:
        body["summary"] = approval.summary
        body["arguments"] = approval.arguments
        # What the agent runs with: set once approved (a reviewer's edit, or the arguments as asked).
        body["arguments_to_use"] = approval.final_arguments
        body["edited"] = approval.final_arguments is not None and approval.final_arguments != approval.arguments
    return body


def approval_path(approval: ApprovalRequest) -> str:
    """The request's page: the one place that builds its link."""
    return reverse("approval_detail", kwargs={"slug": approval.project.slug, "approval_id": approval.pk})


def approval_url(approval: ApprovalRequest) -> str:
    """The absolute link to the request's page, for notifications (Slack, e-mail, webhooks), which are
    read outside agentops."""
    return settings.SITE_URL + approval_path(approval)


def duration_text(seconds: float | None) -> str:
    """A wait as a person reads it: 45 s, 12 min, 3.5 h, 2.1 d (an en dash for none)."""
    if seconds is None:
        return "\u2013"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def figure_rows(project: Project, rows: list[FigureRow], field: str, kept: dict[str, str]) -> list[dict]:
    """The figures as the templates show them, each linking to the history filtered by its action or
    reviewer (and the window it was computed over)."""
    base = reverse("approval_history", kwargs={"slug": project.slug})
    return [
        {
            "key": r.key,
            "approved": r.approved,
            "decided": r.decided,
            "rate": f"{100 * r.rate:.0f}%" if r.rate is not None else "\u2013",
            "median": duration_text(r.median_seconds),
            "p90": duration_text(r.p90_seconds),
            "link": f"{base}?{urlencode({**kept, field: r.key})}",
        }
        for r in rows
    ]


def figures_context(project: Project, figures: Figures) -> dict[str, Any]:
    """What templates/approvals/history_figures.html needs (the history page and the dashboard card)."""
    window = {"since": figures.start.isoformat(), "until": figures.end.isoformat()}
    return {
        "start": figures.start,
        "end": figures.end,
        "by_action": figure_rows(project, figures.by_action, "action", window),
        "by_reviewer": figure_rows(project, figures.by_reviewer, "reviewer", window),
    }
