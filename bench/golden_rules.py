"""Sampling rules benchmark: the sampling pass (agentops.goldens.rules_sampling) on a seeded project.

    AGENTOPS_HOME=/tmp/bench-goldens python bench/golden_rules.py --runs 100000   # seeds a fresh home first
    AGENTOPS_HOME=/tmp/h4-home python bench/golden_rules.py                        # the 1,000,000-run seed

When the project `--slug` does not exist, seeds it first with `--runs` runs (bench/seed_scale.py). Replaces
the project's golden set `bench-sampled` and its rules with four: every failed run at 10%, one agent's
runs at 1%, runs that called one tool at 5%, every finished run at 1%. Then times, wall clock and database
time (the sum of every statement's duration, measured by connection.execute_wrapper):

1. the backlog: the rules' cursors put before every run, passes until each rule has read every run (a
   pass reads at most MAX_BATCHES batches of BATCH runs a rule): the worst case, after a long outage;
2. the steady state: a pass with nothing new, as beat runs it every minute;
3. an incremental pass after `--changed` runs changed (the newest runs' updated_at set to now, as
   ingest stamps the runs it writes): a minute of traffic.

Reference, measured in the same run: the run list's first page (50 runs, newest first) for each rule's
filter (traces.filters, what the run list page costs), and `SELECT count(*)` of the project's runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402 (after django.setup)
from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.utils import timezone  # noqa: E402

from agentops.goldens.models import GoldenSet, ReviewItem, SamplingRule  # noqa: E402
from agentops.goldens.rules import rule_create  # noqa: E402
from agentops.goldens.rules_sampling import SETTLE, AdvanceResult, rules_advance  # noqa: E402
from agentops.goldens.services import golden_set_create  # noqa: E402
from agentops.tenancy.models import Project  # noqa: E402
from traces.filters import parse_filters  # noqa: E402
from traces.models import Run  # noqa: E402

SET_NAME = "bench-sampled"
RULES = (
    ("failures", "status=error", 10),
    ("support-bot", "agent=support-bot", 1),
    ("refunds", "tool=refund", 5),
    ("everything", "", 1),
)


class Clock:
    """The summed duration of every statement run while installed."""

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


def timed(work: Callable[[], Any]) -> tuple[Any, float, Clock]:
    clock = Clock()
    began = time.perf_counter()
    with connection.execute_wrapper(clock):
        result = work()
    return result, time.perf_counter() - began, clock


def reset(project: Project) -> list[SamplingRule]:
    # The pass advances every project's rules: in a bench database, this project's only.
    SamplingRule.objects.exclude(project=project).update(enabled=False)
    GoldenSet.objects.filter(project=project, name=SET_NAME).delete()
    golden_set_create(project=project, user=None, data={"name": SET_NAME})
    rules = []
    for name, query, rate in RULES:
        data = {"name": f"bench-{name}", "golden_set": SET_NAME, "filter": query, "sample_rate": rate}
        rules.append(rule_create(project=project, user=None, data=data))
    return rules


def rewind(rules: list[SamplingRule], to: datetime) -> None:
    SamplingRule.objects.filter(pk__in=[r.pk for r in rules]).update(cursor_at=to, cursor_id=0)


def reference(project: Project) -> tuple[float, float]:
    """(seconds for the run list's first page of every rule's filter, seconds for count(*) of all runs)."""
    began = time.perf_counter()
    for _, query, _ in RULES:
        filters = parse_filters(QueryDict(query), payloads=True)
        list(filters.apply(Run.objects.filter(project=project)).order_by("-start_time", "-id")[:50])
    pages = time.perf_counter() - began
    began = time.perf_counter()
    Run.objects.filter(project=project).count()
    return pages, time.perf_counter() - began


def report(label: str, result: AdvanceResult, wall: float, clock: Clock, ref_pages: float) -> None:
    rate = result.runs / clock.seconds if clock.seconds else 0.0
    print(
        f"{label}: {result.runs:,} runs read, {result.queued:,} queued in {wall * 1000:,.0f} ms wall, "
        f"{clock.seconds * 1000:,.0f} ms database ({clock.statements:,} statements; {rate:,.0f} runs/s of "
        f"database time); {clock.seconds / ref_pages:.1f}x the run list's first pages",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", default="scale")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs to seed when the project is missing")
    parser.add_argument("--changed", type=int, default=1000, help="runs changed before the incremental pass")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    project = Project.objects.filter(slug=args.slug).first()
    if project is None:
        from bench import seed_scale

        seed_scale.main(["--runs", str(args.runs), "--slug", args.slug])
        project = Project.objects.get(slug=args.slug)
    rules = reset(project)
    ref_pages, ref_count = reference(project)
    total = Run.objects.filter(project=project).count()
    print(f"project {project.slug}: {total:,} runs; {len(rules)} rules")
    print(f"reference: the run list's first page of each rule's filter {ref_pages * 1000:.1f} ms in all; ")
    print(f"           count(*) of the project's runs {ref_count * 1000:.1f} ms", flush=True)

    # Every run is due: the pass's clock is past their updated_at by more than the settling delay.
    def later() -> datetime:
        return timezone.now() + SETTLE + timedelta(seconds=1)

    rewind(rules, datetime(2000, 1, 1, tzinfo=UTC))
    passes, runs, queued, wall_all, db_all = 0, 0, 0, 0.0, 0.0
    while True:
        result, wall, clock = timed(lambda: rules_advance(now=later()))
        passes, runs, queued = passes + 1, runs + result.runs, queued + result.queued
        wall_all, db_all = wall_all + wall, db_all + clock.seconds
        if result.runs == 0:
            break
    print(
        f"backlog: {passes} passes read {runs:,} runs ({runs // len(rules):,} a rule), queued {queued:,} in "
        f"{wall_all:,.1f} s wall, {db_all:,.1f} s database ({runs / db_all:,.0f} runs/s of database time)",
        flush=True,
    )
    per_rule = {r.name: ReviewItem.objects.filter(rule=r).count() for r in rules}
    print("  queued per rule: " + ", ".join(f"{k} {v:,}" for k, v in per_rule.items()))

    result, wall, clock = timed(lambda: rules_advance(now=later()))
    report("steady (nothing new)", result, wall, clock, ref_pages)

    newest = list(Run.objects.filter(project=project).order_by("-id").values_list("id", flat=True)[: args.changed])
    Run.objects.filter(id__in=newest).update(updated_at=timezone.now())
    result, wall, clock = timed(lambda: rules_advance(now=later()))
    report(f"incremental ({len(newest):,} runs changed)", result, wall, clock, ref_pages)

    ref_pages_again, _ = reference(project)
    print(f"reference again: {ref_pages_again * 1000:.1f} ms")


if __name__ == "__main__":
    main()
