"""Alerts benchmark: one evaluation cycle on a project seeded by bench/seed_scale.py.

    AGENTOPS_HOME=/tmp/h4-home python bench/seed_scale.py            # 1,000,000 runs, once
    AGENTOPS_HOME=/tmp/h4-home python bench/alerts.py [--slug scale] [--rules 50]
    AGENTOPS_HOME=/tmp/bench-quick python bench/alerts.py --runs 20000   # quick: seeds a fresh home first

When the project `--slug` does not exist, seeds it first with `--runs` runs (bench/seed_scale.py). Records
the project's agents and bundles when none are (the seeder writes runs only), then replaces the project's
rules with the default rules (agentops.alerts.rules when present, else the spec's two) and `--rules`
threshold rules of varied metrics, scopes and windows (5 minutes to a week), about half of them set to
fire. "Now" is the newest run's start: the seeded traffic is then as fresh as live traffic.

Runs the cycle (agentops.alerts.evaluation.cycle.evaluate_all) twice: the first opens the alerts, the
second finds them open (the steady state, once a minute); then (unless --no-naive) a third with the
evaluators' caps lifted (every run of each window, every bundle with runs in the window, 2,000 runs per
drift arm), the naive reference. For each prints the wall time and the database
time (the sum of every statement's duration, measured around each by connection.execute_wrapper), per
kind of rule and for the lifecycle's writes, the slowest rules, and the ratio to the reference measured in
the same run: `SELECT count(*)` of the project's runs in the last week (the widest window), and of all
its runs. Target: under 2 s of database time per cycle at 1,000,000 runs.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402 (after django.setup)
from django.db import connection  # noqa: E402
from django.db.models import Max  # noqa: E402

from agentops.agents.models import Bundle  # noqa: E402
from agentops.agents.services import bundles_record  # noqa: E402
from agentops.alerts.evaluation import (  # noqa: E402
    EVALUATORS,
    drift,
    threshold,
)
from agentops.alerts.evaluation.cycle import CycleResult, evaluate_all  # noqa: E402
from agentops.alerts.evaluation.threshold import METRICS  # noqa: E402
from agentops.alerts.models import Alert, AlertRule, RuleKind  # noqa: E402
from agentops.tenancy.models import Project  # noqa: E402
from traces.models import Run  # noqa: E402

TARGET_DB_S = 2.0
WINDOWS = (5, 15, 60, 240, 1440, 10080)
SCOPES: tuple[dict[str, str], ...] = (
    {},
    {"agent": "support-bot"},
    {"agent": "billing-agent", "environment": "production"},
    {"environment": "staging"},
    {"bundle": "research-agent@3"},
    {"agent": "triage-bot", "bundle": "triage-bot@2", "environment": "production"},
    {"user": "user-42"},
    {"model": "gpt-4o-mini"},
    {"tool": "refund"},
    {"agent": "support-bot", "tool": "search_kb"},
)


class Clock:
    """Statement durations, summed per label (the kind of rule being evaluated, or the lifecycle)."""

    def __init__(self) -> None:
        self.label = "cycle"
        self.seconds: dict[str, float] = defaultdict(float)
        self.statements: dict[str, int] = defaultdict(int)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds[self.label] += time.perf_counter() - began
            self.statements[self.label] += 1

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


@contextmanager
def clocked(clock: Clock, per_rule: list[tuple[float, AlertRule]]) -> Iterator[None]:
    """Attribute statement time to the evaluator's kind while it runs, else to the lifecycle."""
    originals = dict(EVALUATORS)

    def wrap(kind: str, evaluate: Callable[..., Any]) -> Callable[..., Any]:
        def timed(rule: AlertRule, *, now: datetime) -> Any:
            clock.label, before = kind, clock.total
            try:
                return evaluate(rule, now=now)
            finally:
                per_rule.append((clock.total - before, rule))
                clock.label = "lifecycle (writes, reminders)"

        return timed

    for kind, evaluate in originals.items():
        EVALUATORS[kind] = wrap(kind, evaluate)
    try:
        with connection.execute_wrapper(clock):
            yield
    finally:
        EVALUATORS.update(originals)


@contextmanager
def uncapped() -> Iterator[None]:
    """The naive reference: every run of every window, every bundle, 2,000 runs per drift arm."""
    saved = (threshold.SAMPLE_RUNS, threshold.MAX_TOOL_RUNS, drift.MAX_BUNDLES, drift.ARM_RUNS)
    threshold.SAMPLE_RUNS = threshold.MAX_TOOL_RUNS = drift.MAX_BUNDLES = 10**9
    drift.ARM_RUNS = 2000
    try:
        yield
    finally:
        threshold.SAMPLE_RUNS, threshold.MAX_TOOL_RUNS, drift.MAX_BUNDLES, drift.ARM_RUNS = saved


def default_rules(project: Project) -> None:
    try:  # the defaults' own module, once it is merged (agentops.alerts.rules)
        import_module("agentops.alerts.rules").ensure_default_rules(project)
        return
    except (ImportError, AttributeError):
        pass
    AlertRule.objects.create(
        project=project, name="Drift of new bundles", kind=RuleKind.DRIFT, window_minutes=1440, min_sample=20,
        is_default=True,
    )  # fmt: skip
    AlertRule.objects.create(
        project=project, name="Error rate", kind=RuleKind.THRESHOLD, metric="error_rate", window_minutes=60,
        warning=0.1, critical=0.25, min_sample=20, is_default=True,
    )  # fmt: skip


def threshold_rules(project: Project, count: int) -> None:
    rng = random.Random(7)
    rows = []
    for i in range(count):
        metric = METRICS[i % len(METRICS)]
        scope = SCOPES[rng.randrange(len(SCOPES))]
        window = WINDOWS[(i * 5 + rng.randrange(2)) % len(WINDOWS)]
        fire = i % 2 == 0  # a level of 0 is always crossed: half the rules open an alert
        rows.append(
            AlertRule(
                project=project, name=f"bench {i} {metric}", kind=RuleKind.THRESHOLD, metric=metric, scope=scope,
                window_minutes=window, warning=0.0 if fire else 1e12, critical=None, min_sample=1,
            )
        )  # fmt: skip
    AlertRule.objects.bulk_create(rows)


def reference(project: Project, now: datetime) -> tuple[float, int, float, int]:
    with connection.cursor() as cursor:
        began = time.perf_counter()
        cursor.execute(
            "SELECT count(*) FROM traces_run WHERE project_id = %s AND start_time >= %s AND start_time < %s",
            [project.pk, now - timedelta(days=7), now],
        )
        (week,) = cursor.fetchone()
        week_s = time.perf_counter() - began
        began = time.perf_counter()
        cursor.execute("SELECT count(*) FROM traces_run WHERE project_id = %s", [project.pk])
        (every,) = cursor.fetchone()
        return week_s, week, time.perf_counter() - began, every


def describe(rule: AlertRule) -> str:
    scope = ",".join(f"{k}={v}" for k, v in rule.scope.items()) or "all"
    return f"{rule.kind} {rule.metric or '-'} [{scope}] {rule.window_minutes} min"


def cycle(label: str, now: datetime, week_s: float) -> CycleResult:
    clock = Clock()
    per_rule: list[tuple[float, AlertRule]] = []
    began = time.perf_counter()
    with clocked(clock, per_rule):
        result = evaluate_all(now=now)
    wall = time.perf_counter() - began
    db = clock.total
    verdict = "met" if db < TARGET_DB_S else "MISSED"
    print(
        f"\n{label}: {result.rules} rules, {result.failed} failed, {result.findings} findings, "
        f"changes {dict(result.events)}, {result.reminders} reminders",
        flush=True,
    )
    print(f"  wall {wall:.3f} s, database {db:.3f} s in {sum(clock.statements.values())} statements "
          f"(target < {TARGET_DB_S:.0f} s: {verdict}); {db / week_s:.1f}x the week's count(*)")  # fmt: skip
    for name in sorted(clock.seconds, key=lambda n: -clock.seconds[n]):
        print(f"    {name:<32} {clock.seconds[name]:7.3f} s  {clock.statements[name]:5d} statements")
    print("  slowest rules (database time):")
    for seconds, rule in sorted(per_rule, key=lambda x: -x[0])[:8]:
        print(f"    {seconds * 1000:8.1f} ms  {describe(rule)}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", default="scale")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs to seed when the project is missing")
    parser.add_argument("--rules", type=int, default=50, help="threshold rules beside the defaults")
    parser.add_argument("--no-naive", dest="naive", action="store_false", help="skip the uncapped reference cycle")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)  # a fresh home, or indexes of pending migrations
    project = Project.objects.filter(slug=args.slug).first()
    if project is None:
        from bench import seed_scale

        seed_scale.main(["--runs", str(args.runs), "--slug", args.slug])
        project = Project.objects.get(slug=args.slug)
    if not Bundle.objects.filter(project=project).exists():
        began = time.perf_counter()
        recorded = bundles_record()
        print(f"recorded {recorded.bundles} bundles in {time.perf_counter() - began:.1f} s", flush=True)
    newest = Run.objects.filter(project=project).aggregate(newest=Max("start_time"))["newest"]
    assert newest is not None, "the project has no runs"
    now = newest + timedelta(seconds=1)

    Alert.objects.filter(project=project).delete()
    AlertRule.objects.filter(project=project).delete()
    # The cycle evaluates every project's rules: in a bench database, this project's only.
    AlertRule.objects.exclude(project=project).update(enabled=False)
    default_rules(project)
    threshold_rules(project, args.rules)

    week_s, week, every_s, every = reference(project, now)
    print(f"project {project.slug}: {every:,} runs, {week:,} in the last week; now = {now.isoformat()}")
    print(f"reference: count(*) of the week's runs {week_s * 1000:.1f} ms; of all runs {every_s * 1000:.1f} ms")
    cycle("cycle 1 (opens alerts)", now, week_s)
    steady = cycle("cycle 2 (steady state)", now + timedelta(minutes=1), week_s)
    if args.naive:
        with uncapped():
            cycle(
                "cycle 3 (reference: the same rules with no caps on what is read)", now + timedelta(minutes=2), week_s
            )
        print(f"  (steady-state cycle: {steady.seconds:.3f} s wall)")
    week_s, *_ = reference(project, now)
    print(f"\nreference again: count(*) of the week's runs {week_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
