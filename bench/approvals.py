"""Approvals benchmark: how fast a waiting agent learns the decision, and how many agents one
`agentops up` keeps waiting at once.

    python bench/approvals.py [--waiters 200] [--hold 500,1000,2000,4000]

Starts `agentops up` (its defaults: 2 web workers of 4 threads, a Celery worker and beat) on a fresh
embedded PostgreSQL in a temporary AGENTOPS_HOME (or DATABASE_URL when set), creates a project, an
ingest key and a reviewer, and measures with raw HTTP/1.1 clients on an event loop:

- reference: a plain GET /api/v1/approvals/<id>/ (no wait), one after another: p50 / p95;
- wake-up: `--waiters` agents each long-poll (?wait=60) their own request; a reviewer decides them one
  at a time, 20 ms apart (approval_decide, committed, in this process): the time from each decision's
  commit to its agent's answer, p50 / p95 / max; then all of them decided in one transaction (a storm
  of wake-ups at once);
- holding: for each figure of `--hold`, that many agents long-polling at once (paced at `--rate` new
  ones a second, default 100, as agents arrive, and polling again when a wait ends): how many the server refused
  (503), the latency of a plain GET while they all wait (and its ratio to the reference), and the
  resident memory of the web workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import bench_project, django_for, running_up


async def http_get(port: int, path: str, key: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    return parse(raw)


def parse(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        chunks, rest = [], body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            chunks.append(rest[:size])
            rest = rest[size + 2 :]
        body = b"".join(chunks)
    return int(head.split(b" ", 2)[1]), body


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def reference(port: int, path: str, key: str, n: int = 100) -> list[float]:
    took = []
    for _ in range(n):
        began = time.perf_counter()
        status, _ = await http_get(port, path, key)
        assert status == 200, status
        took.append(time.perf_counter() - began)
    return took


def ask(port: int, key: str, n: int) -> list[int]:
    async def one(i: int) -> int:
        body = json.dumps({"action": "refund", "arguments": {"order": i}, "expires_in": 3600})
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST /api/v1/approvals/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body.encode())
        status, answer = parse(await reader.read())
        writer.close()
        assert status == 201, (status, answer)
        return int(json.loads(answer)["id"])

    async def all_of_them() -> list[int]:
        ids = []
        for start in range(0, n, 20):  # 20 at a time: within the server's queue
            ids += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 20))))
        return ids

    return asyncio.run(all_of_them())


class Waiters:
    """Agents long-polling their requests: each answer's arrival time, and the refusals."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.answered: dict[int, float] = {}
        self.refused = 0
        self.stop = False

    async def wait(self, approval_id: int) -> None:
        while not self.stop:
            status, body = await http_get(self.port, f"/api/v1/approvals/{approval_id}/?wait=60", self.key)
            if status == 503:
                self.refused += 1
                await asyncio.sleep(1)
                continue
            if json.loads(body)["state"] != "pending":
                self.answered[approval_id] = time.perf_counter()
                return


async def settled(waiters: Waiters) -> None:
    """Until no refusal came for 3 s: the refused waiters are back and waiting too."""
    refused = -1
    while refused != waiters.refused:
        refused = waiters.refused
        await asyncio.sleep(3)


def web_memory(up: subprocess.Popen[bytes]) -> float:
    """Resident MiB of `agentops web` (gunicorn's master and its forked workers share its command line)."""
    total = 0
    for p in psutil.Process(up.pid).children(recursive=True):
        try:
            if "web" in p.cmdline():
                total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--waiters", type=int, default=200)
    parser.add_argument("--hold", default="500,1000,2000,4000")
    parser.add_argument("--rate", type=float, default=100, help="new waiters a second while holding")
    args = parser.parse_args()
    holds = [int(h) for h in args.hold.split(",") if h]

    with bench_project("bench-approvals-") as bp:
        django_for(bp)
        from django.db import transaction

        from agentops.approvals import services
        from agentops.tenancy.models import Project
        from agentops.tenancy.roles import Role
        from agentops.tenancy.services import membership_grant, user_create

        project = Project.objects.get(slug="bench")
        reviewer = user_create(email="reviewer@bench.example")
        membership_grant(user=reviewer, project=project, role=Role.REVIEWER)

        with running_up(bp) as (port, up):
            ids = ask(port, bp.key, args.waiters + max(holds, default=0))
            plain = f"/api/v1/approvals/{ids[0]}/"
            ref = asyncio.run(reference(port, plain, bp.key))
            ref_p50 = statistics.median(ref)
            print(
                f"reference, a plain GET of a request: p50 {ms(ref_p50)}, p95 {ms(percentile(ref, 0.95))}", flush=True
            )

            # Wake-up latency: one decision at a time, then a storm.
            def decide(chosen: list[int], apart: float) -> dict[int, float]:
                committed = {}
                for approval_id in chosen:
                    services.approval_decide(
                        project=project, approval_id=approval_id, reviewer=reviewer, decision="approve"
                    )
                    committed[approval_id] = time.perf_counter()
                    time.sleep(apart)
                return committed

            def storm(chosen: list[int]) -> dict[int, float]:
                with transaction.atomic():
                    for approval_id in chosen:
                        services.approval_decide(
                            project=project, approval_id=approval_id, reviewer=reviewer, decision="approve"
                        )
                at = time.perf_counter()
                return dict.fromkeys(chosen, at)

            half = args.waiters // 2
            for label, chosen, decider in (
                ("one decision every 20 ms", ids[:half], lambda c: decide(c, 0.02)),
                ("all decided in one transaction", ids[half : args.waiters], storm),
            ):
                waiters = Waiters(port, bp.key)

                async def run(
                    chosen: list[int] = chosen, decider: Any = decider, waiters: Waiters = waiters
                ) -> dict[int, float]:
                    tasks = []
                    for i in chosen:
                        tasks.append(asyncio.create_task(waiters.wait(i)))
                        await asyncio.sleep(1 / args.rate)
                    await settled(waiters)
                    committed = await asyncio.to_thread(decider, chosen)
                    await asyncio.wait_for(asyncio.gather(*tasks), 120)
                    return committed

                committed = asyncio.run(run())
                lags = [waiters.answered[i] - committed[i] for i in chosen]
                time.sleep(2)
                print(
                    f"wake-up, {len(chosen)} waiters, {label}: decision to answer p50 {ms(statistics.median(lags))}, "
                    f"p95 {ms(percentile(lags, 0.95))}, max {ms(max(lags))}; refused {waiters.refused}",
                    flush=True,
                )

            # Holding: many waiters at once.
            pool = ids[args.waiters :]
            for hold in holds:
                waiters = Waiters(port, bp.key)

                async def held(hold: int = hold, waiters: Waiters = waiters) -> tuple[list[float], float]:
                    tasks = []
                    for i in pool[:hold]:
                        tasks.append(asyncio.create_task(waiters.wait(i)))
                        await asyncio.sleep(1 / args.rate)
                    await settled(waiters)
                    during = await reference(port, plain, bp.key, 50)
                    memory = web_memory(up)
                    waiters.stop = True
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    return during, memory

                during, memory = asyncio.run(held())
                p50 = statistics.median(during)
                print(
                    f"holding {hold} waiters: refused {waiters.refused}, answered early {len(waiters.answered)}; "
                    f"a plain GET meanwhile p50 {ms(p50)} ({p50 / ref_p50:.1f}x the reference), "
                    f"p95 {ms(percentile(during, 0.95))}; web workers {memory:.0f} MiB resident",
                    flush=True,
                )
                time.sleep(2)  # the server forgets the closed connections


if __name__ == "__main__":
    main()
