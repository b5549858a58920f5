"""Reads of step caps: a project's caps, and whether a run is at or past its agent's cap.

A run's values beside its agent's cap (the run's agent column names the cap, whatever scope a reserve
gave): steps (step_count), tool calls, tokens (input + output) and cost. CAP_VALUES is that comparison
as SQL, one row per cap in a fixed order, shared with the runaway job (agentops.budgets.runaway) so that
both read a cap the same way. A cap left null compares with nothing: never passed.

- The reserve is refused when the run has reached a cap (value >= cap): the run may take no more.
- The run is a runaway when it has gone past one (value > cap).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from agentops.budgets.models import StepCap
from agentops.tenancy.models import Project

# Lateral rows (rank, cap_name, cap_value, value) of the run `r` against the cap `c`.
CAP_VALUES = """
    CROSS JOIN LATERAL (VALUES
        (1, 'max_steps', c.max_steps::numeric, r.step_count::numeric),
        (2, 'max_tool_calls', c.max_tool_calls::numeric, r.tool_calls::numeric),
        (3, 'max_tokens', c.max_tokens::numeric, (r.input_tokens + r.output_tokens)::numeric),
        (4, 'max_cost_usd', c.max_cost_usd, r.cost_usd)
    ) AS v(rank, cap_name, cap_value, value)
"""

_AT_CAP = f"""
    SELECT r.agent, v.cap_name, v.cap_value, v.value
    FROM traces_run r JOIN budgets_stepcap c ON c.project_id = r.project_id AND c.agent = r.agent
    {CAP_VALUES}
    WHERE r.project_id = %(project)s AND r.trace_id = %(trace)s AND v.value >= v.cap_value
    ORDER BY v.rank LIMIT 1
"""

_WHAT = {"max_steps": "steps", "max_tool_calls": "tool calls", "max_tokens": "tokens", "max_cost_usd": "USD"}


@dataclass(frozen=True, slots=True)
class AtCap:
    agent: str
    cap_name: str
    cap_value: Decimal
    value: Decimal

    @property
    def reason(self) -> str:
        cap = f"agent {self.agent}'s {self.cap_name}"
        if self.cap_name == "max_cost_usd":
            return f"run is at its step cap: ${self.value:.6f} spent, {cap} ${self.cap_value:.6f}"
        return f"run is at its step cap: {self.value:.0f} {_WHAT[self.cap_name]}, {cap} {self.cap_value:.0f}"


def caps_of_project(project: Project) -> list[StepCap]:
    return list(StepCap.objects.filter(project=project).select_related("created_by").order_by("agent", "pk"))


def cap_in_project(project: Project, cap_id: int) -> StepCap | None:
    return StepCap.objects.filter(project=project, pk=cap_id).select_related("created_by").first()


def run_at_cap(project_id: int, trace_id: uuid.UUID) -> AtCap | None:
    """The first cap (in CAP_VALUES' order) the run has reached, or None: no such run yet, no cap for its
    agent, or every value below its cap. One query on the runs' (project, trace_id) key."""
    with connection.cursor() as cursor:
        cursor.execute(_AT_CAP, {"project": project_id, "trace": trace_id})
        row = cursor.fetchone()
    if row is None:
        return None
    agent, cap_name, cap_value, value = row
    return AtCap(agent, cap_name, Decimal(cap_value), Decimal(value))
