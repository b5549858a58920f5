"""Runs of a baseline and a candidate bundle, stored through the real ingest pipeline."""

from __future__ import annotations

import time

from agentops.tenancy.models import Project
from tests.factories import make_run
from tests.otlp import NS, AgentTrace

AGENT = "support-bot"


def seed(
    project: Project, bundle: str, n: int, *, hours_ago: float, regressed: bool = False, environment: str = "prod"
) -> None:
    """`n` runs of `bundle`, one a minute from `hours_ago`. Their shapes cycle through 1-3 model calls;
    a regressed bundle makes two more calls per run and fails its tool call in 2 runs of 5."""
    resource = {"service.name": AGENT, "agentops.bundle.id": bundle, "deployment.environment.name": environment}
    start = time.time_ns() - int(hours_ago * 3600 * NS)
    for i in range(n):
        trace = AgentTrace(
            agent=AGENT,
            start_ns=start + i * 60 * NS,
            llm_calls=1 + i % 3 + (2 if regressed else 0),
            tool_error=regressed and i % 5 < 2,
        )
        make_run(project, trace, resource)
