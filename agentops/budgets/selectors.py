"""Reads of budgets: which budgets apply to a reservation, and how much of each window is spent.

A budget's spend in its current window (agentops.budgets.windows) has three parts, so that nothing
counts twice and nothing is missed:

- traced: the cost of the scope's runs that started in the window, read by
  agentops.alerts.evaluation.sums.window_totals (the alerts' budget rules read the same numbers): the
  hourly rollups for settled whole hours of a project, agent or bundle scope, the runs (one index range
  per piece) for the rest; an end customer (the run's user id) or a session from the runs alone,
  through (project, user_id, -start_time) and (project, session_id, start_time). Tokens the same way.
- committed: reservations committed in the window (by their creation) that traced cost does not cover
  yet. One without a run counts its actual cost (or, committed with none, its estimate). Those naming a
  run are taken together per run: they count what they committed beyond the run's traced cost, when the
  run is traced in this budget's scope and window (so the run's cost counts once, in `traced`, and the
  part not traced yet counts here); a run whose reservations were all committed without an actual cost
  is settled by its traced cost once it has finished (its root span ended): the reservations then
  count nothing. A run not traced (yet, or outside the scope or window) leaves its reservations counting.
- held: reservations held and not expired, whenever they were made (they are about to be spent).

spent_usd is traced + committed; remaining_usd is limit - spent - held (below 0 when traced spend went
past the limit: runs that never asked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from agentops.alerts.evaluation.sums import Totals, window_totals
from agentops.budgets.models import Budget, Reservation, ScopeKind
from agentops.budgets.windows import Window, current_window, zone_or_none
from agentops.tenancy.models import IngestKey, Project

# Budget scope kind -> (the scope key of sums.window_totals, the reservation's column, the run's column).
_SCOPE = {
    ScopeKind.AGENT: ("agent", "agent", "agent"),
    ScopeKind.BUNDLE: ("bundle", "bundle", "bundle"),
    ScopeKind.CUSTOMER: ("user", "customer", "user_id"),
    ScopeKind.SESSION: ("session", "session", "session_id"),
}
RESERVATION_SCOPES = ("agent", "bundle", "customer", "session")


@dataclass(frozen=True, slots=True)
class BudgetState:
    budget: Budget
    window: Window
    traced_usd: Decimal
    committed_usd: Decimal
    held_usd: Decimal
    tokens: int  # traced tokens plus those held

    @property
    def spent_usd(self) -> Decimal:
        return self.traced_usd + self.committed_usd

    @property
    def remaining_usd(self) -> Decimal:
        return self.budget.limit_usd - self.spent_usd - self.held_usd

    @property
    def used_usd(self) -> Decimal:
        return self.spent_usd + self.held_usd


def applicable_budgets(project: Project, scope: dict[str, str]) -> QuerySet[Budget]:
    """The project's budgets a reservation with `scope` (RESERVATION_SCOPES -> value) counts against."""
    match = Q(scope_kind=ScopeKind.PROJECT)
    for kind in RESERVATION_SCOPES:
        if scope.get(kind):
            match |= Q(scope_kind=kind, scope_value=scope[kind])
    return Budget.objects.filter(project=project).filter(match).order_by("pk")


def budgets_of_project(project: Project) -> list[Budget]:
    return list(Budget.objects.filter(project=project).select_related("created_by").order_by("pk"))


def budget_in_project(project: Project, budget_id: int) -> Budget | None:
    return Budget.objects.filter(project=project, pk=budget_id).select_related("created_by").first()


def reservation_of_key(key: IngestKey, reservation_id: int) -> Reservation | None:
    return Reservation.objects.filter(project_id=key.project_id, created_by_key=key, pk=reservation_id).first()


def reservation_by_idempotency_key(project: Project, idempotency_key: str) -> Reservation | None:
    return Reservation.objects.filter(project=project, idempotency_key=idempotency_key).first()


def budget_window(budget: Budget, now: datetime) -> Window:
    zone = zone_or_none(budget.timezone)
    assert zone is not None, f"budget {budget.pk} holds an unknown time zone"  # services check every write
    return current_window(budget.window, zone, now)


def traced(budget: Budget, window: Window, now: datetime) -> Totals:
    """The cost and tokens of the budget's runs that started in its window, up to `now`."""
    kind = ScopeKind(budget.scope_kind)
    scope = {} if kind == ScopeKind.PROJECT else {_SCOPE[kind][0]: budget.scope_value}
    (totals,) = window_totals(budget.project_id, scope, [(window.start, now)])
    return totals


def _reserved_sql(kind: str) -> str:
    res_scope = run_scope = ""
    if kind != ScopeKind.PROJECT:
        _, column, run_column = _SCOPE[ScopeKind(kind)]
        res_scope = f" AND res.{column} = %(value)s"
        run_scope = f" AND r.{run_column} = %(value)s"
    return f"""
        WITH held AS (
            SELECT coalesce(sum(res.amount_usd), 0) AS usd, coalesce(sum(res.tokens), 0) AS tokens
            FROM budgets_reservation res
            WHERE res.project_id = %(project)s AND res.state = 'held' AND res.expires_at > %(now)s{res_scope}
        ), committed AS (
            SELECT CASE
                WHEN res.run_id IS NULL OR max(r.cost_usd) IS NULL THEN sum(coalesce(res.actual_usd, res.amount_usd))
                WHEN bool_and(res.actual_usd IS NULL) AND bool_or(r.root_ended) THEN 0
                ELSE greatest(sum(coalesce(res.actual_usd, res.amount_usd)) - max(r.cost_usd), 0)
            END AS usd
            FROM budgets_reservation res
            LEFT JOIN traces_run r ON r.project_id = res.project_id AND r.trace_id = res.run_id
                AND r.start_time >= %(start)s{run_scope}
            WHERE res.project_id = %(project)s AND res.state = 'committed' AND res.created_at >= %(start)s{res_scope}
            GROUP BY res.run_id, CASE WHEN res.run_id IS NULL THEN res.id END
        )
        SELECT held.usd, held.tokens, (SELECT coalesce(sum(usd), 0) FROM committed) FROM held
    """


def reserved(budget: Budget, window: Window, now: datetime) -> tuple[Decimal, int, Decimal]:
    """(held USD, held tokens, committed USD not covered by traced cost) of the budget, in one statement."""
    params: dict[str, Any] = {
        "project": budget.project_id,
        "now": now,
        "start": window.start,
        "value": budget.scope_value,
    }
    with connection.cursor() as cursor:
        cursor.execute(_reserved_sql(budget.scope_kind), params)
        held, tokens, committed = cursor.fetchone()
    return Decimal(held), int(tokens), Decimal(committed)


def budget_state(budget: Budget, now: datetime, traced_totals: Totals | None = None) -> BudgetState:
    """The budget's window and spend at `now`. `traced_totals` when the caller read them already (the
    reserve path reads them before it takes the budgets' locks, to hold the locks for less time)."""
    window = budget_window(budget, now)
    totals = traced_totals if traced_totals is not None else traced(budget, window, now)
    held, held_tokens, committed = reserved(budget, window, now)
    return BudgetState(budget, window, totals.cost_usd, committed, held, totals.tokens + held_tokens)
