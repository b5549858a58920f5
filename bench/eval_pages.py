"""Eval pages benchmark: server time of the eval run pages on a set of 1,000 cases.

    AGENTOPS_HOME=/tmp/evalbench python bench/eval_pages.py [--cases 1000] [--runs 300] [--repeat 20]

Seeds (once; found again by its slug) a project `evalbench` with a golden set of `--cases` cases and
`--runs` finished eval runs of it across 12 bundles, the last one against a baseline with a tenth of the
cases flipped; results are written straight to the tables (no agent, no traces: the pages read only
eval rows). Then times, in-process through Django's test Client as an engineer (as bench/ui.py does):
the list with the trend chart, one eval run with every case, its failures only, and the comparison of
the two. Prints median and p95 over `--repeat` requests after a warm-up, the queries of one request,
the page size, and each median as a multiple of /healthz measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402 (after django.setup)
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from agentops.goldens.eval_models import EvalCaseResult, EvalRun, EvalState  # noqa: E402
from agentops.goldens.jsonl import parse_import  # noqa: E402
from agentops.goldens.models import GoldenSet  # noqa: E402
from agentops.goldens.services import cases_import, golden_set_create  # noqa: E402
from agentops.tenancy import services  # noqa: E402
from agentops.tenancy.models import Project  # noqa: E402
from bench.ui import _engineer, _get, _time  # noqa: E402

SLUG = "evalbench"
TARGET_MS = 300


def _results(eval_run: EvalRun, keys: list[str], failing: set[str]) -> list[EvalCaseResult]:
    rows = []
    for key in keys:
        passed = key not in failing
        outcome = {"type": "equals", "status": "passed" if passed else "failed"}
        if not passed:
            outcome["reason"] = "output 'lost' is not 'shipped'"
        rows.append(
            EvalCaseResult(
                eval_run=eval_run,
                case_key=key,
                attempt=1,
                trace_id=uuid.UUID(bytes=secrets.token_bytes(16)),
                output="shipped" if passed else "lost",
                outcomes=[outcome, {"type": "no_error", "status": "passed"}],
                passed=passed,
                latency_ms=1200.0,
                cost_usd=Decimal("0.0042"),
                scored_at=timezone.now(),
            )
        )
    return rows


@transaction.atomic
def _seed(cases: int, runs: int) -> tuple[Project, int, int]:
    project = Project.objects.filter(slug=SLUG).first()
    if project is not None:
        newest = EvalRun.objects.filter(project=project).order_by("-id")
        last = newest.first()
        assert last is not None and last.baseline_id is not None
        return project, last.baseline_id, last.pk
    org = services.organization_create(name="Eval bench")
    project = services.project_create(organization=org, name="Eval bench", slug=SLUG)
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    keys = [f"case{i:05d}" for i in range(cases)]
    body = "\n".join(json.dumps({"case_key": key, "input": {"q": f"order {i}?"}}) for i, key in enumerate(keys))
    cases_import(golden_set=golden_set, user=None, cases=parse_import(body.encode()))
    golden_set = GoldenSet.objects.get(pk=golden_set.pk)
    start = timezone.now() - timedelta(days=runs)
    made: list[EvalRun] = []
    for i in range(runs):
        failing = set(keys[: (i * 7) % (cases // 5)])
        at = start + timedelta(days=i)
        eval_run = EvalRun.objects.create(
            project=project,
            golden_set=golden_set,
            set_name="smoke",
            set_version=golden_set.version,
            bundle=f"v{i % 12}",
            baseline_bundle="v0" if i == runs - 1 else "",
            baseline=made[-1] if i == runs - 1 else None,
            state=EvalState.DONE,
            verdict="fail" if failing else "pass",
            metrics={"cases": cases, "passed": cases - len(failing), "task_success": 1 - len(failing) / cases},
            finished_at=at,
        )
        # Only the last two need case rows for the pages measured; the rest feed the list and trend.
        if i >= runs - 2:
            flipped = set(keys[: cases // 10]) if i == runs - 1 else set()
            EvalCaseResult.objects.bulk_create(_results(eval_run, keys, flipped if i == runs - 1 else set()))
        made.append(eval_run)
    return project, made[-2].pk, made[-1].pk


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    logging.getLogger("django.request").setLevel(logging.CRITICAL)
    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    project, baseline_id, last_id = _seed(args.cases, args.runs)
    print(f"project {project.slug}: seeded or found in {time.perf_counter() - began:.1f} s")
    client = Client()
    client.force_login(_engineer(project))
    slug = {"slug": project.slug}
    one = reverse("eval_run", kwargs={**slug, "eval_run_id": last_id})
    pages = [
        ("list + trend of the set", reverse("eval_runs", kwargs=slug) + "?set=smoke"),
        (f"eval run, {args.cases} cases", one),
        ("eval run, failures only", one + "?failures=1"),
        ("compare with the baseline", reverse("eval_compare", kwargs=slug) + f"?a={baseline_id}&b={last_id}"),
    ]
    reference = _time(_get(client, "/healthz"), args.repeat)
    print(f"\n{'page':<30}{'median ms':>10}{'p95 ms':>10}{'x healthz':>11}{'queries':>9}{'KB':>8}  target")
    print(f"{'healthz (reference)':<30}{reference.median_ms:>10.1f}{reference.p95_ms:>10.1f}{1:>11.1f}")
    for label, url in pages:
        t = _time(_get(client, url), args.repeat)
        ratio = t.median_ms / reference.median_ms
        verdict = f"HTTP {t.status}" if t.status != 200 else ("ok" if t.median_ms < TARGET_MS else "SLOW")
        print(
            f"{label:<30}{t.median_ms:>10.1f}{t.p95_ms:>10.1f}{ratio:>11.1f}{t.queries:>9}{t.kbytes:>8.0f}"
            f"  < {TARGET_MS} ms {verdict}"
        )


if __name__ == "__main__":
    main()
