"""Rollup refresh under live traffic: the incremental refresh (traces.rollups.refresh) every minute while
agent runs are written at --rate spans/s, against the whole-hour recompute it replaced, in the same run.

    AGENTOPS_HOME=/tmp/h4-home python bench/rollups.py [--slug scale] [--runs 1000000] [--minutes 5]
        [--rate 10000] [--late 0.2]

On top of a seeded project (bench/seed_scale.py: created with --runs runs if the slug does not exist;
a small --runs makes a quick mode), a writer process stores runs as ingest stores them (staged rows
through traces.ingest.store.store_rows, one 500-span batch a transaction): --rate spans/s, runs of 12
spans starting now. A share (--late) of the runs get their last 4 spans a minute later, in the next
minute's traffic, so that runs already counted change (their end, step count, cost) and are applied
again. The OTLP decoding and staging are done once, for a pool of batches replayed with new trace ids:
that is the web workers' CPU, not the database's, and it would starve the writer on a small machine.

After each minute of traffic is written, the main process runs refresh() (while the writer goes on with
the next minute) and prints its duration and the runs it applied; then it times the whole-hour recompute
(traces.rollup_whole.recompute_hours) of the same hours, in a transaction it rolls back, and prints the
ratio. If the writer cannot keep --rate on this machine, a "minute" is the minute's spans, written as
fast as it can (the achieved rate is printed): the refresh's work depends on the runs written, not on
the wall time they took. At the end it checks that the rollups of the traffic's hours equal the
whole-hour recompute's.

Before the traffic: the first refresh after the ledger's migration rebuilds every project from scratch
(traces.rollups.rebuild); its time is printed too.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402 (after django.setup)
from django.db import connection, transaction  # noqa: E402 (after django.setup)
from django.db.models import Sum  # noqa: E402 (after django.setup)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope  # noqa: E402
from opentelemetry.proto.resource.v1.resource_pb2 import Resource  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span  # noqa: E402

from agentops.tenancy.models import Project  # noqa: E402 (after django.setup)
from bench.traffic import _kv, trace_spans  # noqa: E402 (after django.setup)
from traces import rollups  # noqa: E402 (after django.setup)
from traces.ingest.columns import STAGE_COLUMNS  # noqa: E402 (after django.setup)
from traces.ingest.decode import decode_request  # noqa: E402 (after django.setup)
from traces.ingest.normalize import normalize_batch  # noqa: E402 (after django.setup)
from traces.ingest.rows import stage  # noqa: E402 (after django.setup)
from traces.ingest.store import store_rows  # noqa: E402 (after django.setup)
from traces.models import RollupWatermark, RunHour  # noqa: E402 (after django.setup)
from traces.partitions import ensure_months, months_spanned  # noqa: E402 (after django.setup)
from traces.selectors import load_ingest_config  # noqa: E402 (after django.setup)

TRACES_PER_BATCH = 42  # ~500 spans, as bench/ingest.py's exporters send
LATE_SPANS = 4
_TRACE = STAGE_COLUMNS.index("trace_id")

Rows = list[list[Any]]


def _staged(project_id: int, spans: list[Span], agent: str) -> Rows:
    resource = Resource(attributes=[
        _kv("service.name", agent), _kv("service.version", "2026.12.1"),
        _kv("deployment.environment.name", "production"),
    ])  # fmt: skip
    body = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource,
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="bench", version="1"), spans=spans)],
            )
        ]
    ).SerializeToString()
    staged = stage(
        normalize_batch(decode_request(body, "application/x-protobuf").spans), load_ingest_config(project_id)
    )
    assert not staged.rejected, staged.rejected
    return staged.rows


def pool(project_id: int, batches: int, late: float, seed: int) -> list[tuple[Rows, Rows]]:
    """`batches` (on time, late) pairs of staged rows: runs starting within the last minute, a share
    `late` of them with their last LATE_SPANS spans held back in the late part."""
    rng = random.Random(seed)
    now = time.time_ns()
    agents = ("support-bot", "billing-agent", "research-agent", "triage-bot")
    out = []
    for _ in range(batches):
        agent = rng.choice(agents)
        on_time: list[Span] = []
        held: list[Span] = []
        for _ in range(TRACES_PER_BATCH):
            spans = trace_spans(rng, now - rng.randint(0, 60) * 1_000_000_000)
            for span in spans:
                span.attributes.append(_kv("user.id", f"user-{rng.randrange(5000)}"))
            cut = len(spans) - LATE_SPANS if rng.random() < late else len(spans)
            on_time.extend(spans[:cut])
            held.extend(spans[cut:])
        out.append((_staged(project_id, on_time, agent), _staged(project_id, held, agent) if held else []))
    return out


def _renamed(rows: Rows, names: dict[str, str]) -> Rows:
    renamed = []
    for row in rows:
        copy = list(row)
        copy[_TRACE] = names.setdefault(row[_TRACE], uuid.uuid4().hex)
        renamed.append(copy)
    return renamed


def writer(batches: list[tuple[Rows, Rows]], minutes: int, rate: int, started: float, done: Any) -> None:
    """Write `minutes` minutes of traffic at up to `rate` spans/s; after each, put (minute, spans, runs,
    seconds) on `done`. Minute m is the pool's on-time rows under new trace ids, and minute m-1's late
    rows under that minute's ids."""
    connection.close()  # never share the parent's socket
    spans_per_minute = rate * 60
    ensure_months(months_spanned([time.time_ns()]))
    previous: list[dict[str, str]] = []
    written = 0
    for minute in range(minutes):
        names: list[dict[str, str]] = []
        began, spans, runs = time.perf_counter(), 0, 0
        i = 0
        while spans < spans_per_minute:
            on_time, _late = batches[i % len(batches)]
            mapping: dict[str, str] = {}
            names.append(mapping)
            todo = [_renamed(on_time, mapping)]
            if i < len(previous):  # the late spans of the same slot a minute ago
                todo.append(_renamed(batches[i % len(batches)][1], previous[i]))
            for rows in todo:
                if not rows:
                    continue
                with transaction.atomic():
                    result = store_rows(rows)
                spans, runs, written = spans + result.steps_inserted, runs + result.runs_touched, written + len(rows)
                # Paced: never ahead of `rate` spans/s since the start.
                ahead = started + written / rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
            i += 1
        previous = names
        done.put((minute, spans, runs, time.perf_counter() - began))
    done.put(None)


def backend_cpu() -> float:
    """CPU seconds the database backend serving this process has used (user + system): a figure that a
    busy machine inflates less than wall time."""
    import psutil

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _hours_of_traffic(project_id: int, since: datetime) -> list[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT date_trunc('hour', start_time) FROM traces_run WHERE project_id = %s AND updated_at >= %s",
            [project_id, since],
        )
        return sorted(hour for (hour,) in cursor.fetchall())


def whole_hour_recompute(project_id: int, hours: list[datetime]) -> tuple[float, float]:
    """Seconds (wall, database CPU) the whole-hour recompute of these hours takes; rolled back, so the
    rollups stay as the incremental refresh left them."""
    began, cpu = time.perf_counter(), backend_cpu()
    with transaction.atomic():
        rollups.recompute_hours(project_id, hours, now=datetime.now(UTC))
        transaction.set_rollback(True)
    return time.perf_counter() - began, backend_cpu() - cpu


def _rows_of(project_id: int, hours: list[datetime]) -> list[tuple[Any, ...]]:
    fields = ["hour", "agent", "bundle", "environment", "runs", "errors", "cost_usd", "input_tokens",
              "output_tokens", "unpriced_steps", "runs_with_unpriced", "steps", "tool_calls", "latency_hist",
              "steps_hist"]  # fmt: skip
    return sorted(
        tuple(str(sorted(v.items())) if isinstance(v, dict) else v for v in row)
        for row in RunHour.objects.filter(project_id=project_id, hour__in=hours).values_list(*fields)
    )


def matches_whole_hour_recompute(project_id: int, hours: list[datetime]) -> bool:
    incremental = _rows_of(project_id, hours)
    with transaction.atomic():
        rollups.recompute_hours(project_id, hours, now=datetime.now(UTC))
        whole = _rows_of(project_id, hours)
        transaction.set_rollback(True)
    return incremental == whole


def _counts(project_id: int) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(step_count), 0) FROM traces_run WHERE project_id = %s", [project_id]
        )
        runs, steps = cursor.fetchone()
    return int(runs), int(steps)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", default="scale", help="the seeded project (seeded with --runs if missing)")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs to seed when the project is missing")
    parser.add_argument("--minutes", type=int, default=5, help="minutes of traffic, a refresh after each")
    parser.add_argument("--rate", type=int, default=10_000, help="spans/s of the traffic")
    parser.add_argument("--late", type=float, default=0.2, help="share of runs whose last spans come a minute late")
    parser.add_argument("--pool", type=int, default=60, help="staged batches replayed with new trace ids")
    args = parser.parse_args(argv)

    call_command("migrate", verbosity=0)
    project = Project.objects.filter(slug=args.slug).first()
    if project is None:
        from bench import seed_scale

        seed_scale.main(["--runs", str(args.runs), "--slug", args.slug])
        project = Project.objects.get(slug=args.slug)
    runs0, steps0 = _counts(project.pk)
    print(f"project {project.slug}: {runs0:,} runs, {steps0:,} steps", flush=True)
    if not RollupWatermark.objects.exists():
        began = time.perf_counter()
        result = rollups.refresh()
        print(f"first refresh (rebuild of every project from scratch): {result.runs:,} runs, "
              f"{time.perf_counter() - began:.1f} s", flush=True)  # fmt: skip
    began = time.perf_counter()
    result = rollups.refresh()
    print(
        f"refresh before the traffic: {result.runs:,} runs applied in {time.perf_counter() - began:.2f} s", flush=True
    )

    batches = pool(project.pk, args.pool, args.late, seed=11)
    print(f"pool: {len(batches)} staged batches, {sum(len(a) + len(b) for a, b in batches):,} spans", flush=True)
    traffic_began = datetime.now(UTC)
    done: Any = multiprocessing.get_context("fork").Queue()
    connection.close()
    proc = multiprocessing.get_context("fork").Process(
        target=writer, args=(batches, args.minutes, args.rate, time.time(), done)
    )
    proc.start()
    print()
    print("minute  spans written  write s  spans/s | refresh s (db CPU s)  runs applied  runs in hours"
          " | whole-hour s (db CPU s)  ratio")  # fmt: skip
    refresh_s, whole_s, refresh_cpu, whole_cpu, hour_runs = [], [], [], [], []
    applied_runs = []
    while (item := done.get()) is not None:
        minute, spans, _runs, wrote = item
        began, cpu = time.perf_counter(), backend_cpu()
        result = rollups.refresh()
        took, cpu = time.perf_counter() - began, backend_cpu() - cpu
        hours = _hours_of_traffic(project.pk, traffic_began)
        in_hours = int(RunHour.objects.filter(project=project, hour__in=hours).aggregate(n=Sum("runs"))["n"] or 0)
        whole, whole_c = whole_hour_recompute(project.pk, hours)
        refresh_s.append(took)
        refresh_cpu.append(cpu)
        whole_s.append(whole)
        whole_cpu.append(whole_c)
        applied_runs.append(result.runs)
        hour_runs.append(in_hours)
        print(
            f"{minute + 1:>6}  {spans:>13,}  {wrote:>7.1f}  {spans / wrote:>7,.0f} | {took:>9.2f} ({cpu:>6.2f})"
            f"  {result.runs:>12,}  {in_hours:>13,} | {whole:>12.2f} ({whole_c:>6.2f})  {whole / took:>5.1f}x",
            flush=True,
        )
    proc.join()
    began = time.perf_counter()
    result = rollups.refresh()
    print(f"last refresh (the late spans of the last minute): {result.runs:,} runs in "
          f"{time.perf_counter() - began:.2f} s")  # fmt: skip
    hours = _hours_of_traffic(project.pk, traffic_began)
    runs1, steps1 = _counts(project.pk)
    print()
    print(f"traffic: {runs1 - runs0:,} runs, {steps1 - steps0:,} spans in {args.minutes} minutes (target "
          f"{args.rate:,} spans/s, {args.late:.0%} of runs finishing a minute late)")  # fmt: skip
    print(f"refresh after each minute: median {statistics.median(refresh_s):.2f} s, worst {max(refresh_s):.2f} s, "
          f"median {statistics.median(applied_runs):,.0f} runs applied")  # fmt: skip
    print(f"whole-hour recompute of the same hours: median {statistics.median(whole_s):.2f} s, "
          f"worst {max(whole_s):.2f} s (last minute {whole_s[-1]:.2f} s)")  # fmt: skip
    ratio = statistics.median(w / r for w, r in zip(whole_s, refresh_s, strict=True))
    print(f"ratio whole-hour / incremental: median {ratio:.1f}x (wall time)")
    print(f"database CPU a refresh: median {statistics.median(refresh_cpu):.2f} s incremental, "
          f"{statistics.median(whole_cpu):.2f} s whole-hour")  # fmt: skip
    # What the whole-hour recompute would cost at the end of an hour of this traffic, from its measured
    # cost per run (an extrapolation, printed as one): the hour then holds 60 minutes of runs.
    per_run = statistics.median(w / max(n, 1) for w, n in zip(whole_s, hour_runs, strict=True))
    hour = (runs1 - runs0) / args.minutes * 60  # new runs a minute (a late run is applied twice, counted once)
    print(f"extrapolated: by an hour's last minute (~{hour:,.0f} runs in it) the whole-hour recompute would take "
          f"~{per_run * hour:,.0f} s a refresh at its measured {per_run * 1000:.2f} ms a run; the incremental "
          f"refresh stays at its minute's runs")  # fmt: skip
    print(
        f"rollups of the traffic's hours equal the whole-hour recompute: {matches_whole_hour_recompute(project.pk, hours)}"
    )


if __name__ == "__main__":
    main()
