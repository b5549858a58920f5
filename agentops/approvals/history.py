"""Reads of decided approvals: the history list, its filters, and the figures (approval rate and time
to decision per action and per reviewer). Every read is scoped to one project.

Filters (query parameters, shared by the history page and the reviewers' API list):
- `action`: a prefix of the action name ("refund" finds refund and refund.partial);
- `reviewer`: the e-mail of a person who decided the request (approve or reject), any case;
- `state`: one state (the page: a decided one);
- `since`, `until`: the time of the decision (decided_at), ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS],
  UTC unless an offset is given); `until` is exclusive, and a bare date as `until` includes that day.
`parse_filters` raises FilterError naming the parameter at fault.

The history is paged by keyset on (decided_at, id), newest first: a page costs the same however deep.
The figures are computed in SQL, one grouped query each (percentile_cont), over a window of decisions.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from agentops.approvals.models import ApprovalDecision, ApprovalRequest
from agentops.errors import FieldError
from agentops.tenancy.models import Project

DECIDED = (
    ApprovalRequest.State.APPROVED,
    ApprovalRequest.State.REJECTED,
    ApprovalRequest.State.EXPIRED,
    ApprovalRequest.State.CANCELLED,
)
PAGE_SIZE = 50
API_LIMIT = 200
FIGURES_WINDOW = timedelta(days=30)
FIGURE_ROWS = 50


class FilterError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class Filters:
    action: str | None = None
    reviewer: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: tuple[datetime, int] | None = None

    def query(self) -> dict[str, str]:
        """The filters as query parameters again (for links and the next page), without the cursor."""
        values = {
            "action": self.action,
            "reviewer": self.reviewer,
            "state": self.state,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return {k: v for k, v in values.items() if v}


def _moment(params: Mapping[str, str], name: str, *, end: bool) -> datetime | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = parse_datetime(raw)
        day = None if moment else parse_date(raw)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise FilterError(name, "Give a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM), UTC.")
    if moment is None:
        assert day is not None
        moment = datetime.combine(day, time(), tzinfo=UTC) + (timedelta(days=1) if end else timedelta())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def encode_cursor(approval: ApprovalRequest) -> str:
    assert approval.decided_at is not None
    raw = f"{approval.decided_at.isoformat()}|{approval.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(raw: str | None) -> tuple[datetime, int] | None:
    if not raw:
        return None
    try:
        stamp, pk = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split("|")
        moment = parse_datetime(stamp)
        if moment is None:
            raise ValueError(stamp)
        return moment, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise FilterError("cursor", "This is not a cursor this list gave out; start again without it.") from None


def parse_filters(params: Mapping[str, str], states: tuple[str, ...] = DECIDED) -> Filters:
    action = (params.get("action") or "").strip() or None
    if action is not None and len(action) > 200:
        raise FilterError("action", "An action has at most 200 characters.")
    reviewer = (params.get("reviewer") or "").strip() or None
    if reviewer is not None and len(reviewer) > 254:
        raise FilterError("reviewer", "Give the reviewer's e-mail address.")
    state = params.get("state") or None
    if state is not None and state not in states:
        raise FilterError("state", f"must be one of {', '.join(states)}")
    since, until = _moment(params, "since", end=False), _moment(params, "until", end=True)
    if since and until and until <= since:
        raise FilterError("until", "The range must end after it starts.")
    return Filters(action, reviewer, state, since, until, _cursor(params.get("cursor")))


def _with_decisions(qs: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    decisions = ApprovalDecision.objects.select_related("reviewer").order_by("at", "id")
    return qs.select_related("project", "created_by_key", "created_by_user").prefetch_related(
        Prefetch("decisions", queryset=decisions)
    )


def _filtered(project: Project, filters: Filters) -> QuerySet[ApprovalRequest]:
    qs = ApprovalRequest.objects.filter(project=project)
    if filters.state:
        qs = qs.filter(state=filters.state)
    if filters.action:
        qs = qs.filter(action__startswith=filters.action)
    if filters.reviewer:
        by = ApprovalDecision.objects.filter(request=OuterRef("pk"), reviewer__email__iexact=filters.reviewer)
        qs = qs.filter(Exists(by))
    if filters.since:
        qs = qs.filter(decided_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(decided_at__lt=filters.until)
    return qs


def history_page(
    project: Project, filters: Filters, limit: int = PAGE_SIZE
) -> tuple[list[ApprovalRequest], str | None]:
    """One page of the project's decided requests, the latest decided first, and the cursor of the
    next page (None: the last). Three queries: the requests, their decisions, their reviewers' joined."""
    qs = _filtered(project, filters).filter(state__in=DECIDED, decided_at__isnull=False)
    if filters.cursor:
        moment, pk = filters.cursor
        qs = qs.filter(Q(decided_at__lt=moment) | Q(decided_at=moment, id__lt=pk))
    items = list(_with_decisions(qs.order_by("-decided_at", "-id"))[: limit + 1])
    more = len(items) > limit
    items = items[:limit]
    return items, (encode_cursor(items[-1]) if more and items else None)


def approvals_listed(project: Project, filters: Filters, limit: int = API_LIMIT) -> list[ApprovalRequest]:
    """The reviewers' API list: any state, newest first; pending ones by the soonest expiry (the most
    urgent) first. A time filter (since, until) is on the decision, so it finds decided requests only."""
    order = ["expires_at", "id"] if filters.state == ApprovalRequest.State.PENDING else ["-created_at", "-id"]
    return list(_with_decisions(_filtered(project, filters).order_by(*order))[:limit])


# --- figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FigureRow:
    key: str  # the action, or the reviewer's e-mail
    approved: int
    decided: int  # the denominator of the rate
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def rate(self) -> float | None:
        return self.approved / self.decided if self.decided else None


@dataclass(frozen=True, slots=True)
class Figures:
    start: datetime
    end: datetime
    by_action: list[FigureRow]
    by_reviewer: list[FigureRow]


_REQUESTS = ApprovalRequest._meta.db_table
_DECISIONS = ApprovalDecision._meta.db_table
_USERS = get_user_model()._meta.db_table

# Per action: the rate is approved / (approved + rejected + expired): an expiry counts against, as it
# answers the agent "no"; a cancel is the agent's own and counts nowhere. The time to decision is that
# of the requests a person decided (approved or rejected): an expiry's is only its expiry.
_BY_ACTION = f"""
SELECT action,
       count(*) FILTER (WHERE state = 'approved'),
       count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
           FILTER (WHERE state IN ('approved', 'rejected')),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))
           FILTER (WHERE state IN ('approved', 'rejected'))
FROM {_REQUESTS}
WHERE project_id = %s AND state IN ('approved', 'rejected', 'expired')
  AND decided_at >= %s AND decided_at < %s
GROUP BY action
ORDER BY count(*) DESC, action
LIMIT %s
"""

# Per reviewer: each of their decisions (a request of a quorum has several), the rate is their approvals
# over their decisions, and the time is from the request's creation to their own decision.
_BY_REVIEWER = f"""
SELECT u.email,
       count(*) FILTER (WHERE d.decision = 'approve'),
       count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.at - r.created_at)),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM d.at - r.created_at))
FROM {_DECISIONS} d
JOIN {_REQUESTS} r ON r.id = d.request_id
JOIN {_USERS} u ON u.id = d.reviewer_id
WHERE r.project_id = %s AND d.at >= %s AND d.at < %s
GROUP BY u.email
ORDER BY count(*) DESC, u.email
LIMIT %s
"""


def _rows(sql: str, params: list[int | datetime]) -> list[FigureRow]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            FigureRow(
                key=key,
                approved=approved,
                decided=decided,
                median_seconds=float(median) if median is not None else None,
                p90_seconds=float(p90) if p90 is not None else None,
            )
            for key, approved, decided, median, p90 in cursor.fetchall()
        ]


def approval_figures(project: Project, start: datetime | None = None, end: datetime | None = None) -> Figures:
    """Approval rate and time to decision per action and per reviewer, for the decisions made in
    [start, end) (default: the last 30 days). Two queries, whatever the data; the busiest first."""
    end = end or timezone.now()
    start = start or end - FIGURES_WINDOW
    params: list[int | datetime] = [project.pk, start, end, FIGURE_ROWS]
    return Figures(start, end, _rows(_BY_ACTION, params), _rows(_BY_REVIEWER, params))
