"""Budgets benchmark: reservations per second and their latency with many agents reserving at once.

    python bench/budgets.py [--callers 32] [--seconds 15] [--customers 8]

Starts `agentops up` (its defaults) on a fresh embedded PostgreSQL in a temporary AGENTOPS_HOME (or
DATABASE_URL when set), creates a project with a hard monthly budget for the project and one per end
customer (`--customers` of them, hard, daily), and measures with `--callers` threads, each an agent on
its own keep-alive HTTP/1.1 connection with the project's ingest key:

- reference: the same callers each doing a plain authenticated GET (/api/v1/ingest-key/) for the same
  time: requests/s, p50 / p95;
- budgets: each caller, in a loop, POST /api/v1/budgets/reserve (an estimate, its customer, an
  idempotency key) then POST .../commit with the actual cost: reservations/s, and the reserve's and the
  commit's p50 / p95, with their ratio to the reference's. Every reserve contends for the project
  budget's row lock (all of them apply to it), the worst case for the lock.

Then checks that the project budget was never passed: allowed + committed <= limit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.approvals import percentile
from bench.ingest import bench_project, django_for, running_up


class Agent:
    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.busy = 0  # 503 answers retried (their time is in the latency)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.key}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(50):
            try:
                self.conn.request(method, path, data, headers)
                response = self.conn.getresponse()
                raw = response.read()
                if response.status == 503 and attempt < 49:  # at capacity: back off, as an agent would
                    self.busy += 1
                    time.sleep(0.05)
                    continue
                try:
                    return response.status, (json.loads(raw) if raw else {})
                except ValueError:
                    return response.status, {"raw": raw[:200].decode(errors="replace")}
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 49:
                    raise
        raise AssertionError("unreachable")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def run_callers(n: int, seconds: float, work) -> float:
    """Run work(i, stop_at) in n threads started together; returns the wall time."""
    barrier = threading.Barrier(n + 1)
    threads = []
    for i in range(n):

        def target(i: int = i) -> None:
            barrier.wait()
            work(i, time.monotonic() + seconds)

        threads.append(threading.Thread(target=target))
    for t in threads:
        t.start()
    barrier.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--customers", type=int, default=8)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)

    with bench_project("bench-budgets-") as bp:
        django_for(bp)
        from agentops.budgets.models import Reservation
        from agentops.budgets.services import budget_create
        from agentops.tenancy.models import Project
        from agentops.tenancy.roles import Role
        from agentops.tenancy.services import membership_grant, user_create

        project = Project.objects.get(slug="bench")
        admin = user_create(email="admin@bench.example")
        membership_grant(user=admin, project=project, role=Role.ADMIN)
        limit = 1000.0
        budget = budget_create(project=project, data={"limit_usd": limit, "window": "month"}, user=admin)
        for c in range(args.customers):
            budget_create(
                project=project,
                data={
                    "limit_usd": limit,
                    "window": "day",
                    "scope": {"customer": f"customer-{c}"},
                    "soft_percent": [90],
                },
                user=admin,
            )

        with running_up(bp) as (port, _up):
            ref: list[list[float]] = [[] for _ in range(args.callers)]
            busy = [0, 0]

            def plain(i: int, stop_at: float) -> None:
                agent = Agent(port, bp.key)
                while time.monotonic() < stop_at:
                    t = time.perf_counter()
                    status, _ = agent.call("GET", "/api/v1/ingest-key/")
                    assert status == 200, status
                    ref[i].append(time.perf_counter() - t)
                busy[0] += agent.busy

            wall = run_callers(args.callers, args.seconds, plain)
            ref_all = [x for xs in ref for x in xs]
            ref_p50, ref_p95 = percentile(ref_all, 0.5), percentile(ref_all, 0.95)
            print(
                f"reference, GET /api/v1/ingest-key/ with {args.callers} callers: {len(ref_all) / wall:,.0f} req/s, "
                f"p50 {ms(ref_p50)}, p95 {ms(ref_p95)} ({busy[0]} answers 503 at capacity, retried)",
                flush=True,
            )

            reserve_t: list[list[float]] = [[] for _ in range(args.callers)]
            commit_t: list[list[float]] = [[] for _ in range(args.callers)]
            refused = [0] * args.callers

            def agent_loop(i: int, stop_at: float) -> None:
                agent = Agent(port, bp.key)
                n = 0
                while time.monotonic() < stop_at:
                    n += 1
                    body = {
                        "scope": {"agent": "bench-bot", "customer": f"customer-{i % args.customers}"},
                        "estimate_usd": 0.002,
                        "idempotency_key": f"caller-{i}-{n}",
                        "ttl": 120,
                    }
                    t = time.perf_counter()
                    status, answer = agent.call("POST", "/api/v1/budgets/reserve/", body)
                    reserve_t[i].append(time.perf_counter() - t)
                    assert status in (200, 201), (status, answer)
                    if not answer["allowed"]:
                        refused[i] += 1
                        continue
                    t = time.perf_counter()
                    status, _ = agent.call(
                        "POST", f"/api/v1/budgets/reservations/{answer['reservation']}/commit/", {"actual_usd": 0.001}
                    )
                    commit_t[i].append(time.perf_counter() - t)
                    assert status == 200, status
                busy[1] += agent.busy

            wall = run_callers(args.callers, args.seconds, agent_loop)
            res_all = [x for xs in reserve_t for x in xs]
            com_all = [x for xs in commit_t for x in xs]
            r50, r95 = percentile(res_all, 0.5), percentile(res_all, 0.95)
            c50, c95 = percentile(com_all, 0.5), percentile(com_all, 0.95)
            print(
                f"budgets with {args.callers} callers: {len(res_all) / wall:,.0f} reservations/s "
                f"({len(res_all)} in {wall:.1f} s, {sum(refused)} refused, {busy[1]} answers 503 at capacity, retried), "
                "each followed by a commit",
                flush=True,
            )
            print(f"  reserve p50 {ms(r50)}, p95 {ms(r95)} ({r50 / ref_p50:.1f}x / {r95 / ref_p95:.1f}x the reference)")
            print(f"  commit  p50 {ms(c50)}, p95 {ms(c95)} ({c50 / ref_p50:.1f}x / {c95 / ref_p95:.1f}x the reference)")
            spent = sum(
                r.actual_usd or r.amount_usd
                for r in Reservation.objects.filter(project=project, state__in=["held", "committed"])
            )
            print(f"  project budget: ${spent:.4f} held or committed of ${limit:.2f} (budget {budget.pk})")
            assert spent <= limit


if __name__ == "__main__":
    main()
