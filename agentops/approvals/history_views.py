"""The history of a project's approvals: the decided requests and the figures behind them.

GET /p/<slug>/approvals/history/?action=&reviewer=&state=&since=&until=&cursor=
    decided requests (approved, rejected, expired, cancelled), the latest decided first, 50 a page,
    filtered as agentops.approvals.history says; above them, approval rate and time to decision per
    action and per reviewer over [since, until) (default: the last 30 days), each row linking to the
    history filtered by it. A bad filter answers 400 with the page and the message.

Anyone who may view the project reads it (Viewer and above; another tenant 404). The summary is content:
shown only with the payload permission, as in the API; reviewers' comments are the record and are shown
to all. Every stored value is escaped by the templates.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse

from agentops.approvals import history
from agentops.approvals.models import ApprovalRequest
from agentops.approvals.presenters import approval_path, duration_text, figures_context
from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm


def _row(approval: ApprovalRequest) -> dict[str, Any]:
    assert approval.decided_at is not None
    return {
        "a": approval,
        "path": approval_path(approval),
        "waited": duration_text((approval.decided_at - approval.created_at).total_seconds()),
        "decisions": list(approval.decisions.all()),
    }


@project_view(Perm.VIEW_PROJECT)
def approval_history(request: HttpRequest, project: Project) -> HttpResponse:
    error, status = None, 200
    try:
        filters = history.parse_filters(request.GET)
    except history.FilterError as exc:
        error, status = f"{exc.field}: {exc.message}", 400
        filters = history.Filters()
    items, cursor = history.history_page(project, filters)
    kept = filters.query()
    perms = project_perms(request, project)
    context = {
        "tab": "approval_history",
        "rows": [_row(a) for a in items],
        "form": {k: request.GET.get(k, "") for k in ("action", "reviewer", "state", "since", "until")},
        "states": [s.value for s in history.DECIDED],
        "filtered": bool(kept),
        "next_query": urlencode({**kept, "cursor": cursor}) if cursor else None,
        "figures": figures_context(project, history.approval_figures(project, filters.since, filters.until)),
        "custom_window": bool(filters.since or filters.until),
        "payloads": Perm.VIEW_PAYLOADS in perms,
        "admin": Perm.ADMIN_PROJECT in perms,
        "error": error,
    }
    return render_project(request, project, "approvals/history.html", context, status=status)
