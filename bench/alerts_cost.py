"""Spike and budget evaluators' database time on a seeded project (bench/seed_scale.py).

    AGENTOPS_HOME=/tmp/h4-home python bench/seed_scale.py --runs 1000000
    AGENTOPS_HOME=/tmp/h4-home python bench/alerts_cost.py [--slug scale] [--repeat 5]

Evaluates rules of each shape (unsaved: nothing is written) at `now` = the project's newest run start,
as if the beat had refreshed the rollups a minute before (so the hour `now` is in, and the 5 minutes of
traces.rollups.OVERLAP before it, are read from the runs; with a watermark older than that the
evaluators read more runs and cost more). Prints for each rule the database time (the sum of its
statements' execution as the client sees it) and the wall time, each the median of `--repeat` runs
after one warm-up, the number of statements, and the rule's value; then the same for a reference read
measured in the same run, the project dashboard's totals over the last 24 hours from the rollups
(traces.selectors.dashboards.run_totals), and each rule's ratio to it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.db import connection  # noqa: E402 (after django.setup)
from django.db.models import Count, Max  # noqa: E402 (after django.setup)

from agentops.alerts.evaluation import budget, spike, sums  # noqa: E402 (after django.setup)
from agentops.alerts.models import AlertRule, RuleKind  # noqa: E402 (after django.setup)
from agentops.tenancy.models import Project  # noqa: E402 (after django.setup)
from traces.models import Run  # noqa: E402 (after django.setup)
from traces.selectors.dashboards import Window, run_totals  # noqa: E402 (after django.setup)


class DbTimer:
    """Sums the time of every statement run on the connection while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.statements = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - began
            self.statements += 1


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float, int, Any]:
    """(median database seconds, median wall seconds, statements per call, the last result)."""
    fn()  # warm-up
    db, wall, result, statements = [], [], None, 0
    for _ in range(repeat):
        timer = DbTimer()
        began = time.perf_counter()
        with connection.execute_wrapper(timer):
            result = fn()
        wall.append(time.perf_counter() - began)
        db.append(timer.seconds)
        statements = timer.statements
    return statistics.median(db), statistics.median(wall), statements, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slug", default="scale")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    project = Project.objects.get(slug=args.slug)
    runs = project.runs.count()
    now = project.runs.aggregate(at=Max("start_time"))["at"]
    assert now is not None, "no runs: seed the project first"
    # A beat refresh a minute ago: settled up to the hour holding now - 1 min - OVERLAP.
    settled = sums.floor_hour(now - timedelta(minutes=1) - sums.OVERLAP)
    fresh: list[datetime | None] = [settled]
    sums.settled_until = lambda: fresh[0]
    top = project.runs.values("agent", "environment", "user_id").annotate(n=Count("id")).order_by("-n").first()
    assert top is not None
    agent, environment, user = top["agent"], top["environment"], top["user_id"]
    print(f"project {project.slug}: {runs:,} runs; now = {now:%Y-%m-%d %H:%M:%S}; rollups settled to {settled:%H:%M}")

    def spike_rule(**fields: Any) -> AlertRule:
        values = {"kind": RuleKind.SPIKE, "metric": "cost_usd", "window_minutes": 60, "warning": 2.0, "min_sample": 1}
        return AlertRule(project=project, name="spike", **(values | fields))

    def budget_rule(scope: dict[str, str] | None = None, **params: Any) -> AlertRule:
        values = {"limit_usd": 100.0, "period": "month", "timezone": "UTC"} | params
        return AlertRule(project=project, name="budget", kind=RuleKind.BUDGET, metric="cost_usd",
                         scope=scope or {}, params=values)  # fmt: skip

    by_agent = {"agent": agent, "environment": environment}
    by_model = {"model": "gpt-4o-mini"}
    user_runs = Run.objects.filter(project=project, user_id=user, start_time__gte=now - timedelta(days=31)).count()
    cases: list[tuple[str, AlertRule, Callable[..., Any]]] = [
        ("spike cost, project, 60 min x 7 days", spike_rule(), spike.evaluate),
        ("spike cost, project, 1440 min x 7 days", spike_rule(window_minutes=1440), spike.evaluate),
        ("spike runs, agent+environment, 60 min", spike_rule(metric="runs", scope=by_agent), spike.evaluate),
        ("spike cost, end user, 60 min", spike_rule(scope={"user": user}), spike.evaluate),
        ("spike cost, end user, 1440 min", spike_rule(scope={"user": user}, window_minutes=1440), spike.evaluate),
        ("spike cost, model (runs only), 60 min", spike_rule(scope=by_model), spike.evaluate),
        ("spike cost, model (runs only), 1440 min", spike_rule(scope=by_model, window_minutes=1440), spike.evaluate),
        ("spike cost, tool (runs only), 60 min", spike_rule(scope={"tool": "refund"}), spike.evaluate),
        ("budget day, project, UTC", budget_rule(period="day"), budget.evaluate),
        ("budget week, project, Asia/Kolkata", budget_rule(period="week", timezone="Asia/Kolkata"), budget.evaluate),
        ("budget month, project, UTC", budget_rule(), budget.evaluate),
        ("budget month, agent+environment", budget_rule(by_agent), budget.evaluate),
        (f"budget month, end user ({user_runs} runs)", budget_rule({"user": user}), budget.evaluate),
    ]
    # What reading from the runs alone costs per run (an end user as heavy as an agent, whose spend only
    # the runs know): the same rules with the rollups ignored.
    alone = [
        ("budget day, agent+environment, runs alone", budget_rule(by_agent, period="day"), budget.evaluate),
        ("budget month, agent+environment, runs alone", budget_rule(by_agent), budget.evaluate),
    ]
    reference_window = Window(now - timedelta(hours=24), now, "hour")
    ref_db, ref_wall, ref_statements, _ = measure(lambda: run_totals(project, reference_window), args.repeat)
    print(f"{'reference: dashboard totals, 24 h':46} db {ref_db * 1000:8.1f} ms  wall {ref_wall * 1000:8.1f} ms  "
          f"{ref_statements} statements")  # fmt: skip
    for label, rule, evaluate in cases + alone:
        fresh[0] = None if (label, rule, evaluate) in alone else settled

        def call(rule: AlertRule = rule, evaluate: Callable[..., Any] = evaluate) -> Any:
            return evaluate(rule, now=now)

        db, wall, statements, findings = measure(call, args.repeat)
        value = f"{findings[0].value:,.2f} ({findings[0].details['runs']:,} runs)" if findings else "no finding"
        print(f"{label:46} db {db * 1000:8.1f} ms  wall {wall * 1000:8.1f} ms  {statements} statements  "
              f"x{db / ref_db:6.1f} reference  value {value}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
