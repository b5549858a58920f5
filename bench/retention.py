"""Retention benchmark: how long a day's expiry takes at the scale of bench/seed_scale.py, and ingest's
speed while it runs against without.

    python bench/retention.py [--runs 1000000] [--days 30] [--batches 120] [--exporters 2]

In a throw-away agentops home (bench.ingest.bench_project): seeds a project "scale" with `--runs` runs of
12 steps over `--days` days (bench/seed_scale.py, its own COPY loader), gives it the policy payloads
days-7, steps days-6, runs days-5, and starts `agentops up` (bench.ingest.running_up). Then:

1. warm-up: the job as of four days ago (everything older than its cutoffs goes: the backlog a first job
   has, not measured);
2. baseline: ingest alone, 2 x `--batches` 512-span OTLP batches from `--exporters` processes into the
   project "bench" (kept for ever, so no step partition can be dropped: every row goes by batches);
3. a day's expiry alone: the job as of a day later, which clears one day of payloads, deletes one day
   of steps and one day of runs (what a daily job does in the steady state);
4. both at once: the job of the next day while 5 x `--batches` new batches are sent; ingest's speed is
   taken over the time both ran (to the job's end, or to the traffic's if that came first);
3 and 4 twice: with the job's rest between batches as shipped (expiry.PACE = 1), then without (0).

Prints the expiry's duration and rows, ingest spans/s alone and during the expiry, and their ratio. The machine is shared: the two ingest figures
are measured back to back in the same run, and only their ratio means much.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import _exporter, bench_project, django_for, running_up
from bench.traffic import batches

PACES = (1.0, 0.0)  # agentops.retention.expiry.PACE: as shipped, then without rest between batches


def _steps(project_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM traces_step WHERE project_id = %s", [project_id])
        return int(cursor.fetchone()[0])


def _send(port: int, key: str, bodies: list[bytes], exporters: int) -> multiprocessing.pool.AsyncResult[Any]:
    pool = multiprocessing.get_context("spawn").Pool(exporters)
    result = pool.map_async(_exporter, [(port, bodies[i::exporters], key, "http") for i in range(exporters)])
    pool.close()
    return result


def _watch(sending: Any, project_id: int, ended: dict[str, float]) -> None:
    """When the traffic ends: the time and the project's step count then (its own connection)."""
    from django.db import connection

    sending.get()
    ended["at"], ended["steps"] = time.perf_counter(), _steps(project_id)
    connection.close()


def _expire(days_ago: float) -> tuple[float, Any]:
    from django.utils import timezone

    from agentops.retention.services import retention_apply

    started = time.perf_counter()
    done = retention_apply(now=timezone.now() - timedelta(days=days_ago))
    return time.perf_counter() - started, done


def _rows(done: Any) -> str:
    return (
        f"payloads cleared: {done.payload_steps:,} steps, {done.payload_runs:,} runs; deleted: {done.steps:,} steps, "
        f"{done.runs:,} runs; partitions dropped: {len(done.partitions)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batches", type=int, default=120)
    parser.add_argument("--exporters", type=int, default=2)
    parser.add_argument("--seed-workers", type=int, default=2)
    args = parser.parse_args()
    with bench_project("ao-retention-") as bp:
        bp.env["RETENTION_APPLY_SECONDS"] = str(10**8)  # the beat job of `agentops up` stays out of the way
        seed = [sys.executable, str(Path(__file__).parent / "seed_scale.py"), "--runs", str(args.runs)]
        seed += ["--days", str(args.days), "--workers", str(args.seed_workers), "--slug", "scale"]
        began = time.perf_counter()
        subprocess.run(seed, env=bp.env, check=True, stdout=subprocess.DEVNULL)
        print(
            f"seeded {args.runs:,} runs ({12 * args.runs:,} steps) over {args.days} days in {time.perf_counter() - began:.0f} s"
        )
        django_for(bp)
        from agentops.retention import expiry
        from agentops.retention.policy import retention_policy_update
        from agentops.tenancy.models import Project

        scale, bench = Project.objects.get(slug="scale"), Project.objects.get(slug="bench")
        d = args.days
        policy = {"payload_days": d - 7, "step_days": d - 6, "run_days": d - 5}
        retention_policy_update(project=scale, data=policy, actor=None)
        seconds, done = _expire(4)
        print(f"warm-up job (backlog, not measured): {seconds:.1f} s; {_rows(done)}")
        # More traffic during each job than alone: it must outlast the job for the window to be all ingest.
        traffic = list(batches(12 * args.batches, seed=11))
        alone_bodies = traffic[: 2 * args.batches]
        during = [traffic[args.batches * (2 + 5 * i) : args.batches * (7 + 5 * i)] for i in range(len(PACES))]
        with running_up(bp) as (port, _up):
            before = _steps(bench.pk)
            t = time.perf_counter()
            _send(port, bp.key, alone_bodies, args.exporters).get()
            alone_wall = time.perf_counter() - t
            alone = (_steps(bench.pk) - before) / alone_wall
            print(f"ingest alone: {alone:,.0f} spans/s ({_steps(bench.pk) - before:,} spans in {alone_wall:.1f} s)")
            day = 3
            for pace, bodies in zip(PACES, during, strict=True):
                expiry.PACE = pace
                day_alone, done = _expire(day)
                print(f"[PACE {pace}] a day's expiry alone: {day_alone:.1f} s; {_rows(done)}")
                sending = _send(port, bp.key, bodies, args.exporters)
                time.sleep(1)  # the exporters connected and sending
                mid, began = _steps(bench.pk), time.perf_counter()
                ended: dict[str, float] = {}
                watcher = threading.Thread(target=_watch, args=(sending, bench.pk, ended))
                watcher.start()
                day_during, done = _expire(day - 1)
                job_end = (time.perf_counter(), _steps(bench.pk))
                watcher.join()
                # The window in which both ran: to the job's end, or to the traffic's if it ended first.
                until, count = (ended["at"], ended["steps"]) if ended["at"] < job_end[0] else job_end
                rate = (count - mid) / (until - began)
                print(f"[PACE {pace}] a day's expiry during ingest: {day_during:.1f} s; {_rows(done)}")
                print(
                    f"[PACE {pace}] ingest during the expiry: {rate:,.0f} spans/s ({count - mid:,} spans in the "
                    f"{until - began:.1f} s both ran)"
                )
                print(f"[PACE {pace}] ratio ingest during / alone: {rate / alone:.2f}")
                day -= 2


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    main()
