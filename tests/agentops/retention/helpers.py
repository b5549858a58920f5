"""Runs of a given age, stored through the real ingest pipeline, and what tests read back of them."""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import connection

from agentops.retention.models import RetentionPolicy
from agentops.retention.policy import policy_create_default
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces.models import Run, Step

NS = 1_000_000_000
DAY = 86400 * NS


def old_run(project, days: float, **fields) -> Run:
    trace = make_run(project, AgentTrace(start_ns=time.time_ns() - int(days * DAY), **fields))
    return Run.objects.get(project=project, trace_id=trace.trace_id.hex())


def set_policy(project, payload=None, step=None, run=None) -> None:
    policy_create_default(project)
    RetentionPolicy.objects.filter(project=project).update(payload_days=payload, step_days=step, run_days=run)


def steps_of(run: Run):
    return Step.objects.filter(project_id=run.project_id, trace_id=run.trace_id)


def metrics(run: Run) -> tuple:
    run.refresh_from_db()
    return (run.step_count, run.llm_calls, run.tool_calls, run.input_tokens, run.output_tokens, run.cost_usd)


def gone(run: Run) -> bool:
    return not Run.objects.filter(pk=run.pk).exists() and not steps_of(run).exists()


def partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'traces_step'::regclass"
        )
        return {row[0] for row in cursor.fetchall()}


def days_ago(now, days: float):
    return now - timedelta(days=days)
