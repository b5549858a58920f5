"""Canary benchmark: the bundle recorder and the canary verdict on a seeded project (bench/seed_scale.py).

    AGENTOPS_HOME=/tmp/h4-home python bench/seed_scale.py --runs 200000
    AGENTOPS_HOME=/tmp/h4-home python bench/canary.py [--slug scale] [--touch 1000]

Prints the wall time of (the database runs on the same machine, so nearly all of it is database time):
- the recorder's first pass over every run (what a fresh install, or one upgraded to this version, pays once);
- an incremental pass after `--touch` of the newest runs were updated (a minute of live traffic);
- a canary verdict of each agent's newest production bundle against its baseline (up to MAX_RUNS runs per
  arm), the slowest of them, and the run counts it compared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.db import connection  # noqa: E402 (after django.setup)

from agentops.agents.models import Bundle  # noqa: E402 (after django.setup)
from agentops.agents.services import RecordResult, bundles_record  # noqa: E402 (after django.setup)
from agentops.alerts.canary import canary_verdict  # noqa: E402 (after django.setup)
from agentops.models import JobWatermark  # noqa: E402 (after django.setup)
from agentops.tenancy.models import Project  # noqa: E402 (after django.setup)


def timed(label: str, fn: Callable[[], RecordResult]) -> RecordResult:
    start = time.perf_counter()
    result = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slug", default="scale")
    parser.add_argument("--touch", type=int, default=1000)
    args = parser.parse_args()
    project = Project.objects.get(slug=args.slug)
    runs = project.runs.count()
    print(f"project {project.slug}: {runs:,} runs", flush=True)

    JobWatermark.objects.filter(name="agents.bundles_record").delete()
    Bundle.objects.filter(project=project).delete()
    first = timed("recorder, first pass over every run", bundles_record)
    print(f"  {first.bundles} bundles of {first.agents} agents", flush=True)

    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE traces_run SET updated_at = now() WHERE id IN (
                   SELECT id FROM traces_run WHERE project_id = %s ORDER BY start_time DESC LIMIT %s)""",
            [project.pk, args.touch],
        )
    # The watermark is now, less the overlap: only the touched runs (and any of the last 5 minutes) count.
    again = timed(f"recorder, incremental pass after {args.touch} runs changed", bundles_record)
    print(f"  {again.bundles} bundles recomputed", flush=True)

    slowest = 0.0
    for bundle in Bundle.objects.filter(project=project, baseline__isnull=False).select_related("agent", "baseline"):
        newest = Bundle.objects.filter(agent=bundle.agent, environment=bundle.environment).order_by("-first_seen")[0]
        if newest.pk != bundle.pk:
            continue
        start = time.perf_counter()
        report = canary_verdict(project, agent=bundle.agent.name, candidate=bundle.name, environment=bundle.environment)
        took = time.perf_counter() - start
        slowest = max(slowest, took)
        j = report.judgement
        print(
            f"canary {bundle.agent.name} {bundle.name} vs {report.baseline} ({bundle.environment}): "
            f"{j.verdict} score {j.score} n={j.baseline_n}/{j.candidate_n} in {took:.2f} s",
            flush=True,
        )
    print(f"slowest canary verdict: {slowest:.2f} s")


if __name__ == "__main__":
    main()
