"""Runs with a known start, scope and cost, stored through the real ingest pipeline, and the rollups
refreshed over them as the beat would: data whose spend the spike and budget tests know exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from agentops.tenancy.models import Project
from tests.factories import make_run
from tests.otlp import NS, AgentTrace
from traces import rollups
from traces.models import Run

AGENT = "support-bot"


def add_run(
    project: Project,
    at: datetime,
    *,
    cost: str = "1",
    agent: str = AGENT,
    bundle: str = "b1",
    environment: str = "prod",
    user: str = "user-1",
    error: bool = False,
) -> Run:
    """One run starting at `at`; its cost is then set to `cost` exactly (the priced cost of its model
    calls is some fraction of a cent that would make every expected figure a computation)."""
    trace = AgentTrace(start_ns=int(at.timestamp() * NS), agent=agent, user=user, llm_calls=1, tool_error=error)
    resource = {"service.name": agent, "agentops.bundle.id": bundle, "deployment.environment.name": environment}
    make_run(project, trace, resource)
    runs = Run.objects.filter(project=project, trace_id=uuid.UUID(bytes=trace.trace_id))
    runs.update(cost_usd=Decimal(cost))
    return runs.get()


def refresh() -> None:
    """Recompute every hour's rollups (a test's runs all share one updated_at: recompute them all)."""
    rollups.refresh(since=datetime(2000, 1, 1, tzinfo=UTC))
