"""Eval benchmark: score an eval run of 1,000 cases on their traced runs and compare it with a baseline.

    python bench/evals.py [--cases 1000] [--regressed 20]

Starts `agentops up` (its defaults) on a fresh embedded PostgreSQL in a temporary AGENTOPS_HOME (or
DATABASE_URL when set). Seeds, in this process: a golden set of `--cases` cases (one import, one
version), each with an output assertion and four trace assertions (tools called in order, no error,
steps at most, latency at most), and two runs per case written through the ingest pipeline's own stage
and store (a root, 3 LLM calls, 2 tool calls): one for bundle v1, one for v2, where `--regressed` of the
v2 runs call the wrong tool.

Then, through the REST API as `agentops eval` and agentops.evals do (agentops.goldens.eval_http): v1's
eval run (create, submit the outputs with their trace ids, score), and v2's against the baseline v1.
Prints each POST score/'s wall time (the server's time to score the whole run and decide the gate:
its target is under 10 s for v2 against v1) and its ratio to a reference measured in the same run: one
plain SQL query reading every step of the 1,000 runs the v2 eval scores. Then, in this process, the
trace facts of those 1,000 runs read batched (agentops.goldens.facts.facts_of_runs) against one query
per run (trace_facts in a loop, as scoring did before), with their query counts.

Prints figures; asserts only that the verdicts are the expected ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import bench_project, django_for, running_up

TARGET_S = 10.0
RUNS_PER_STORE = 250
ASSERTIONS = [
    {"type": "equals", "value": "shipped"},
    {"type": "tools_called", "tools": ["lookup_order", "search_kb"]},
    {"type": "no_error"},
    {"type": "max_steps", "value": 10},
    {"type": "max_latency_ms", "value": 5000},
]


def seed_cases(project: Any, user: Any, count: int) -> list[str]:
    import json

    from agentops.goldens.jsonl import parse_import
    from agentops.goldens.selectors import cases_at
    from agentops.goldens.services import cases_import, golden_set_create

    golden_set = golden_set_create(project=project, user=user, data={"name": "bench"})
    lines = "\n".join(
        json.dumps({"input": {"question": f"Where is order {i}?"}, "assertions": ASSERTIONS}) for i in range(count)
    )
    cases_import(golden_set=golden_set, user=user, cases=parse_import(lines.encode()))
    golden_set.refresh_from_db()  # the import made a new version
    return list(cases_at(golden_set).values_list("case_key", flat=True))


def seed_runs(project: Any, count: int, tools_of: Any, bundle: str) -> list[str]:
    """`count` stored runs (6 steps each) through the ingest pipeline's stage and store: their trace ids."""
    from django.db import transaction

    from bench.seed_scale import MODELS, Shape, _steps
    from traces.ingest.rows import stage
    from traces.ingest.store import store_rows
    from traces.partitions import ensure_months, months_spanned
    from traces.selectors import load_ingest_config

    config = load_ingest_config(project.pk)
    traces = [uuid.uuid4().hex for _ in range(count)]
    t0 = int((time.time() - 3600) * 1e9)
    for first in range(0, count, RUNS_PER_STORE):
        steps = []
        for i in range(first, min(first + RUNS_PER_STORE, count)):
            shape = Shape(0, 0, "production", MODELS[0], tools_of(i), False, 300)
            run_steps = _steps(shape, llm_calls=3, t0=t0 + i * 1_000_000, order=f"A-{i}")
            steps += [replace(s, trace_id=traces[i], bundle_id=bundle) for s in run_steps]
        staged = stage(steps, config)
        assert not staged.rejected, staged.rejected[:3]
        ensure_months(months_spanned(staged.start_ns))
        with transaction.atomic():
            store_rows(staged.rows)
    return traces


def timed_eval(
    client: Any, bundle: str, baseline: str | None, keys: list[str], traces: list[str]
) -> tuple[dict, float]:
    from agentops.goldens import eval_http

    created = eval_http.create(
        client, set_name="bench", version=None, bundle=bundle, repeat=1, baseline=baseline, gate=None
    )
    results = [{"case_key": k, "output": "shipped", "trace_id": t} for k, t in zip(keys, traces, strict=True)]
    eval_http.submit(client, created["id"], results)
    began = time.perf_counter()
    status, body = client.post(f"{created['id']}/score/", {})
    took = time.perf_counter() - began
    assert status == 200, (status, str(body)[:300])
    return body, took


def reference(project: Any, traces: list[str]) -> tuple[float, int]:
    """One plain query reading every step of these runs: its time and row count."""
    from django.db import connection

    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT trace_id, span_id, kind, name, tool_name, status, input FROM traces_step "
            "WHERE project_id = %s AND trace_id = ANY(%s::uuid[])",
            [project.pk, traces],
        )
        rows = cursor.fetchall()
    return time.perf_counter() - began, len(rows)


def facts_compared(project: Any, traces: list[str]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agentops.goldens.facts import facts_of_runs, trace_facts
    from traces.models import Run

    runs = list(Run.objects.filter(project=project, trace_id__in=traces))
    with CaptureQueriesContext(connection) as batched_q:
        began = time.perf_counter()
        batched = facts_of_runs(project, runs)
        batched_s = time.perf_counter() - began
    with CaptureQueriesContext(connection) as single_q:
        began = time.perf_counter()
        single = {run.trace_id: trace_facts(project, run) for run in runs}
        single_s = time.perf_counter() - began
    assert batched == single
    print(
        f"trace facts of {len(runs)} runs: batched {batched_s:.3f} s in {len(batched_q)} query, "
        f"one query per run {single_s:.3f} s in {len(single_q)} queries ({single_s / batched_s:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--regressed", type=int, default=20, help="v2 runs that call the wrong tool")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)

    with bench_project("bench-evals-") as bp:
        django_for(bp)
        from agentops.goldens import eval_http
        from agentops.tenancy.models import Project
        from agentops.tenancy.roles import Role
        from agentops.tenancy.services import api_token_create, membership_grant, user_create

        project = Project.objects.get(slug="bench")
        engineer = user_create(email="engineer@bench.example")
        membership_grant(user=engineer, project=project, role=Role.ENGINEER)
        token = api_token_create(user=engineer).secret

        began = time.perf_counter()
        keys = seed_cases(project, engineer, args.cases)
        v1 = seed_runs(project, len(keys), lambda i: ("lookup_order", "search_kb"), "bench@1")
        v2 = seed_runs(
            project, len(keys), lambda i: ("lookup_order", "refund" if i < args.regressed else "search_kb"), "bench@2"
        )
        print(f"seeded {len(keys)} cases and {len(v1) + len(v2)} runs in {time.perf_counter() - began:.1f} s")

        with running_up(bp) as (port, _up):
            client = eval_http.Client(f"http://127.0.0.1:{port}", token, "bench")
            base, base_s = timed_eval(client, "bench@1", None, keys, v1)
            assert base["verdict"] == "pass", base["reasons"][:3]
            print(f"v1: POST score/ scored {len(keys)} cases and decided in {base_s:.2f} s: {base['verdict']}")
            candidate, candidate_s = timed_eval(client, "bench@2", "bench@1", keys, v2)
            assert candidate["verdict"] == "fail", candidate["reasons"][:3]
            flipped = (candidate["metrics"].get("comparison") or {}).get("flipped", [])
            print(
                f"v2 against v1: POST score/ scored {len(keys)} cases, compared and decided in {candidate_s:.2f} s: "
                f"{candidate['verdict']}, {len(flipped)} flipped (target < {TARGET_S:.0f} s)"
            )
            ref_s, ref_rows = reference(project, v2)
            print(
                f"reference: one SELECT of every step of the {len(v2)} runs ({ref_rows} rows): {ref_s:.3f} s; "
                f"v2's scoring is {candidate_s / ref_s:.1f}x the reference"
            )
        facts_compared(project, v2)


if __name__ == "__main__":
    main()
