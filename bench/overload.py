"""Overload benchmark: what `agentops web` does when more exporters send than it can take.

    python bench/overload.py [--server async|threads] [--levels 1,4,16,64,256] [--seconds 20]
                             [--workers 2] [--threads 4] [--client-timeout 10] [--body-mib 63]

Starts its own `agentops web --server ...` on an embedded PostgreSQL (as bench/ingest.py does), then, for
each level, has that many concurrent exporters (threads of this process, each with its own connection)
send 512-span protobuf batches for `--seconds`, each request with the OTLP exporters' default timeout of
10 s. An exporter that is answered 503 or 429 waits as its Retry-After says, as the OTLP spec asks of
exporters. Every request carries trace ids never sent before, so the database's count tells what the
server stored, and what it stored beyond what it acknowledged is work done for clients that had given up.
A probe asks /healthz twice a second throughout.

Per level it prints: requests answered 200, shed (503/429 with Retry-After), timed out at the client,
other errors; spans/s acknowledged; spans stored for clients that had timed out; p50/p95 of the
acknowledged requests; /healthz p50 and worst; peak memory of the server.

With --body-mib, each request is that large (batches joined into one request): the peak memory of the
server with several such requests at once is what the body budget (WEB_MAX_INFLIGHT_BODY_BYTES) bounds.

The reference, measured in the same run, is the level of 1 exporter: each level's throughput is printed as
a share of it.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import _cpu, _free_port, _rss, _tree, _wait_ready, bench_project, stop_server
from bench.traffic import batches


class FreshBodies:
    """The same few batches again and again, each time under trace ids never sent before: one regular
    expression pass per request, instead of generating a batch (~60 ms each)."""

    def __init__(self, bodies: list[bytes]) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.templates = []
        for body in bodies:
            request = ExportTraceServiceRequest.FromString(body)
            ids = sorted({s.trace_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans})
            self.templates.append((body, re.compile(b"|".join(re.escape(i) for i in ids)), len(ids)))
        self.spans = [
            sum(len(ss.spans) for rs in ExportTraceServiceRequest.FromString(b).resource_spans for ss in rs.scope_spans)
            for b in bodies
        ]
        self._counter = 0
        self._lock = threading.Lock()

    def joined(self, min_bytes: int) -> tuple[bytes, int]:
        """Fresh batches concatenated to at least `min_bytes`: still one valid request (protobuf merges the
        repeated resource_spans of concatenated messages)."""
        parts, spans, size = [], 0, 0
        while size < min_bytes:
            body, n = self.next()
            parts.append(body)
            spans += n
            size += len(body)
        return b"".join(parts), spans

    def next(self) -> tuple[bytes, int]:
        with self._lock:
            self._counter += 1
            n = self._counter
        index = n % len(self.templates)
        body, pattern, _ = self.templates[index]
        salt = n.to_bytes(8, "big")
        fresh = pattern.sub(lambda m: hashlib.blake2b(m.group(0) + salt, digest_size=16).digest(), body)
        return fresh, self.spans[index]


@dataclass
class Level:
    exporters: int
    seconds: float
    ok: int = 0
    shed: int = 0
    timeouts: int = 0
    errors: int = 0
    acked_spans: int = 0
    stored_spans: int = 0
    latencies: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    health_failures: int = 0
    peak_server: int = 0
    cpu_server: float = 0.0
    error_kinds: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _exporter(
    port: int, key: str, bodies: FreshBodies, level: Level, until: float, timeout: float, body_bytes: int
) -> None:
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}
    conn: http.client.HTTPConnection | None = None
    while time.monotonic() < until:
        body, spans = bodies.joined(body_bytes) if body_bytes else bodies.next()
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        started = time.monotonic()
        try:
            conn.request("POST", "/v1/traces", body, headers)
            response = conn.getresponse()
            response.read()
        except TimeoutError:
            with level.lock:
                level.timeouts += 1
            conn.close()
            conn = None
            continue
        except OSError as exc:
            with level.lock:
                level.errors += 1
                level.error_kinds[type(exc).__name__] = level.error_kinds.get(type(exc).__name__, 0) + 1
            conn.close()
            conn = None
            time.sleep(0.2)
            continue
        elapsed = time.monotonic() - started
        with level.lock:
            if response.status == 200:
                level.ok += 1
                level.acked_spans += spans
                level.latencies.append(elapsed)
            elif response.status in (429, 503) and response.getheader("Retry-After"):
                level.shed += 1
            else:
                level.errors += 1
                level.error_kinds[str(response.status)] = level.error_kinds.get(str(response.status), 0) + 1
        if response.status in (429, 503):
            retry_after = float(response.getheader("Retry-After") or 1)
            # The server closes a connection idle for longer than its keep-alive: reconnect after the wait
            # (an HTTP client library would find it closed and do the same).
            conn.close()
            conn = None
            time.sleep(max(0.0, min(retry_after, until - time.monotonic())))
        elif response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _probe(port: int, level: Level, stop: threading.Event, server_pid: int) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        with level.lock:
            if ok:
                level.health.append(time.monotonic() - started)
            else:
                level.health_failures += 1
            level.peak_server = max(level.peak_server, _rss(_tree(server_pid)))
        stop.wait(0.5)


def _stored(db_url: str) -> int:
    import psycopg

    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM traces_step").fetchone()
    return int(row[0]) if row else 0


def run_level(port: int, key: str, db_url: str, server_pid: int, bodies: FreshBodies, args: argparse.Namespace,
              exporters: int) -> Level:  # fmt: skip
    level = Level(exporters, args.seconds)
    before = _stored(db_url)
    cpu_before = _cpu(_tree(server_pid))
    stop = threading.Event()
    probe = threading.Thread(target=_probe, args=(port, level, stop, server_pid), daemon=True)
    probe.start()
    until = time.monotonic() + args.seconds
    threads = [
        threading.Thread(
            target=_exporter,
            args=(port, key, bodies, level, until, args.client_timeout, int(args.body_mib * 2**20)),
            daemon=True,
        )
        for _ in range(exporters)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    probe.join()
    # What the server still finishes for requests whose clients timed out.
    time.sleep(args.client_timeout)
    level.stored_spans = _stored(db_url) - before
    level.cpu_server = _cpu(_tree(server_pid)) - cpu_before
    return level


def _report(levels: list[Level], args: argparse.Namespace) -> None:
    print()
    print(f"server {args.server}: {args.workers} workers x {args.threads} threads; {args.seconds:.0f} s per level;"
          f" client timeout {args.client_timeout:.0f} s")  # fmt: skip
    print()
    print(
        "exporters   200   shed  timeout  error   acked spans/s  vs 1  stored for gone clients"
        "  p50/p95 ms    healthz p50/max ms  fail  peak MiB"
    )
    reference = levels[0].acked_spans / levels[0].seconds if levels else 0
    for lv in levels:
        rate = lv.acked_spans / lv.seconds
        lat = sorted(lv.latencies) or [0.0]
        p95 = lat[max(0, int(len(lat) * 0.95) - 1)]
        health = sorted(lv.health) or [0.0]
        print(
            f"{lv.exporters:>9} {lv.ok:>5} {lv.shed:>6} {lv.timeouts:>8} {lv.errors:>6}  {rate:>14,.0f} {rate / reference if reference else 0:>5.0%}"
            f"  {max(0, lv.stored_spans - lv.acked_spans):>23,}"
            f"  {statistics.median(lat) * 1000:>5.0f} / {p95 * 1000:<6.0f} {statistics.median(health) * 1000:>8.1f} / {health[-1] * 1000:<7.1f}"
            f" {lv.health_failures:>5}  {lv.peak_server / 2**20:>8.0f}"
            f"  {lv.cpu_server / max(lv.stored_spans, 1) * 1000:>8.3f}"
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["async", "threads"], default="async")
    parser.add_argument("--levels", default="1,4,16,64,256", help="concurrent exporters, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each level sends")
    parser.add_argument("--workers", type=int, default=2, help="web worker processes (agentops up's default: 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (agentops web's default: 4)")
    parser.add_argument("--client-timeout", type=float, default=10.0, help="seconds (OTLP exporters' default 10)")
    parser.add_argument(
        "--body-mib", type=float, default=0, help="send bodies of this size (MiB) instead of one 512-span batch"
    )
    args = parser.parse_args()

    server = None
    with bench_project("agentops-overload-") as bench:
        try:
            env, db_url, key, agentops = bench.env, bench.db_url, bench.key, bench.agentops
            print("generating batches ...", flush=True)
            bodies = FreshBodies(list(batches(8)))
            port = _free_port()
            command = [*agentops, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
                       "--threads", str(args.threads), "--server", args.server]  # fmt: skip
            server = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
            _wait_ready("http", port, server.pid, args.workers)
            run_level(port, key, db_url, server.pid, bodies, argparse.Namespace(**{**vars(args), "seconds": 3.0}), 2)
            levels = []
            for exporters in (int(x) for x in args.levels.split(",")):
                level = run_level(port, key, db_url, server.pid, bodies, args, exporters)
                print(
                    f"  {exporters} exporters: {level.ok} ok, {level.shed} shed, {level.timeouts} timed out, errors {level.error_kinds}",
                    flush=True,
                )
                levels.append(level)
            _report(levels, args)
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
