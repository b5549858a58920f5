"""Golden set promotion benchmark: adding the runs of a run-list filter to a set in bulk.

    python bench/goldens_promote.py [--runs 500] [--reference 30]

Makes a fresh agentops home (the embedded PostgreSQL unless DATABASE_URL is set) with a project, stores
`--runs` failed agent runs through the real ingest pipeline (each a root span, two LLM calls and a failed
tool call), then measures in this process, on the same database:

- reference: `case_add` of one run at a time (`--reference` of them, each its own version): per case;
- preview: the bulk page's selection (`runs_to_promote`: status=error, cap = --runs) and its count;
- bulk: `cases_add_runs` of all of them as one version (the confirmation): total, per run, and its per-run
  ratio to the reference;
- again: the same confirmation once more, every run already in the set (skipped, no version).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import bench_project, django_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--reference", type=int, default=30)
    args = parser.parse_args()
    with bench_project("bench-goldens-") as bp:
        django_for(bp)
        from django.http import QueryDict

        from agentops.goldens.promote import runs_to_promote
        from agentops.goldens.services import case_add, cases_add_runs, golden_set_create
        from agentops.tenancy.models import Project
        from tests.otlp import AgentTrace, protobuf
        from traces.filters import parse_filters
        from traces.ingest.decode import decode_request
        from traces.selectors import load_ingest_config
        from traces.services import ingest_batch

        project = Project.objects.get(slug="bench")
        config = load_ingest_config(project.pk)
        traces = [AgentTrace(tool_error=True) for _ in range(args.runs + args.reference)]
        began = time.perf_counter()
        for trace in traces:
            ingest_batch(config=config, batch=decode_request(protobuf(trace.built()), "application/x-protobuf"))
        print(f"stored {len(traces)} failed runs in {time.perf_counter() - began:.1f} s")

        one_by_one = golden_set_create(project=project, user=None, data={"name": "one-by-one"})
        began = time.perf_counter()
        for trace in traces[args.runs :]:
            case_add(golden_set=one_by_one, user=None, data={"source_trace_id": trace.trace_hex}, payloads=True)
        reference = (time.perf_counter() - began) / args.reference
        print(f"reference: case_add, one run at a time: {reference * 1000:.1f} ms a case")

        filters = parse_filters(QueryDict("status=error"), payloads=True)
        began = time.perf_counter()
        runs, total = runs_to_promote(project, filters, args.runs)
        preview = time.perf_counter() - began
        print(f"preview: {len(runs)} of {total} matching runs selected in {preview * 1000:.1f} ms")

        bulk_set = golden_set_create(project=project, user=None, data={"name": "bulk"})
        ids = [run.trace_id for run in runs]
        data = {"assertions": [{"type": "no_error"}], "tags": ["bench"]}
        began = time.perf_counter()
        result = cases_add_runs(golden_set=bulk_set, user=None, trace_ids=ids, data=data, payloads=True)
        bulk = time.perf_counter() - began
        per_run = bulk / max(result.added, 1)
        print(
            f"bulk: {result.added} runs added as version {result.version} in {bulk:.2f} s"
            f" ({per_run * 1000:.1f} ms a run, {per_run / reference:.2f}x the reference per case)"
        )
        began = time.perf_counter()
        again = cases_add_runs(golden_set=bulk_set, user=None, trace_ids=ids, data=data, payloads=True)
        print(
            f"again: {again.skipped} skipped, {again.added} added (version {again.version})"
            f" in {(time.perf_counter() - began) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
