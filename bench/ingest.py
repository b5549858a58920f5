"""Ingest benchmark: realistic agent traffic through OTLP (POST /v1/traces, or OTLP/gRPC), against a
raw-COPY reference.

    python bench/ingest.py [--batches 120] [--exporters 3] [--workers 3] [--rounds 3] [--protocol http|grpc]

Starts its own agentops web (gunicorn; --protocol http, the default) or `--workers` agentops grpc
processes sharing one port (--protocol grpc; grpc binds with SO_REUSEPORT, so the kernel spreads the
exporters' connections over them, each serving --threads calls at once) on an embedded PostgreSQL in
a temporary AGENTOPS_HOME (or uses DATABASE_URL when set), creates a project, and has several exporter
processes send 512-span protobuf batches concurrently (over gRPC: the serialized
ExportTraceServiceRequest on a channel of each exporter's own, as the gRPC exporter sends it). Reports:
- spans/s durably stored: steps counted in the database after the last 200, over the wall time;
- p50 / p95 request latency;
- server (gunicorn) and database (postgres) CPU-seconds per 1,000 spans;
- peak resident memory of the server processes and of the database processes;
- the machine's reference, measured in the same run: a raw psycopg COPY of the same rows into a bare
  table (512-row transactions, each committed), and our throughput as a share of it.

After a warm-up load (not counted: a fresh Postgres's first load also pays for first touching its
shared buffers), it runs several rounds, each a load into emptied tables followed by the reference,
and prints every round and the median round's ratio. The machine is shared: a slow spell that falls on
one phase of a single run moved its ratio by ten points; measured back to back, both phases of a round
share the machine's state, and the median leaves out one unlucky round either way.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.traffic import batches


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], env: dict[str, str]) -> str:
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout


GRPC_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass(frozen=True)
class BenchProject:
    """A fresh agentops home with a migrated database, an organization and a project, for a benchmark's
    server to run on: its environment, database URL, ingest key and the command that runs agentops."""

    env: dict[str, str]
    db_url: str
    key: str
    agentops: list[str]


@contextlib.contextmanager
def bench_project(prefix: str) -> Iterator[BenchProject]:
    """A throw-away home (the embedded Postgres unless DATABASE_URL is set), removed on the way out."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env["AGENTOPS_HOME"] = str(home)
    try:
        if "DATABASE_URL" not in env:
            from agentops.embedded import database_url

            env["DATABASE_URL"] = database_url(home)
        agentops = [sys.executable, "-m", "agentops"]
        _run([*agentops, "migrate", "-v", "0"], env)
        _run([*agentops, "createorg", "Bench", "--slug", "bench-org", "--json"], env)
        created = _run([*agentops, "createproject", "--org", "bench-org", "Bench", "--slug", "bench", "--json"], env)
        yield BenchProject(env, env["DATABASE_URL"], json.loads(created)["ingest_key"], agentops)
    finally:
        from agentops import embedded

        embedded.stop()
        shutil.rmtree(home, ignore_errors=True)


def django_for(bp: BenchProject) -> None:
    """Set Django up in this process on the benchmark's database, for what it writes directly."""
    os.environ.update(bp.env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    import django

    django.setup()


@contextlib.contextmanager
def running_up(bp: BenchProject) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`agentops up` (its defaults: web, Celery worker and beat) on the benchmark's home, once /healthz
    answers and every web worker has booted: (port, process). Stopped with all its processes on the way out."""
    port = _free_port()
    up = subprocess.Popen(
        [*bp.agentops, "up", "--port", str(port)],
        env=bp.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if conn.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("agentops up did not answer /healthz within 120 s")
            time.sleep(0.5)
        time.sleep(3)  # every web worker up, not only the first
        yield port, up
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)


def stop_server(server: subprocess.Popen[bytes] | None) -> None:
    """Stop a server started with start_new_session=True, with every process of its group."""
    if server is not None:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def _exporter(args: tuple[int, list[bytes], str, str]) -> list[float]:
    port, bodies, key, protocol = args
    if protocol == "grpc":
        return _grpc_exporter(port, bodies, key)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies = []
    for body in bodies:
        t = time.perf_counter()
        for _attempt in range(20):
            conn.request(
                "POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}
            )
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                break
            if response.status not in (429, 502, 503, 504):
                raise RuntimeError(f"ingest answered {response.status}")
            time.sleep(0.5)
        latencies.append(time.perf_counter() - t)
    conn.close()
    return latencies


def _grpc_exporter(port: int, bodies: list[bytes], key: str) -> list[float]:
    import grpc

    latencies = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(GRPC_EXPORT)
        for body in bodies:
            t = time.perf_counter()
            for _attempt in range(20):
                try:
                    export(body, metadata=[("authorization", f"Bearer {key}")], timeout=120)
                    break
                except grpc.RpcError as exc:
                    # The codes an OTLP exporter retries (the OTLP spec's retryable ones).
                    if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                        raise RuntimeError(f"ingest answered {exc.code()}: {exc.details()}") from None
                    time.sleep(0.5)
            latencies.append(time.perf_counter() - t)
    return latencies


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _rss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def _postmaster_pid(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
        assert row is not None
        data_dir = row[0]
    return int(Path(data_dir, "postmaster.pid").read_text().split()[0])


def _checkpoint(database_url: str) -> None:
    """Start a measured phase right after a checkpoint, with clean shared buffers. Without it the
    reference ran while the buffers were full of the load's dirty pages, and its backend spent its time
    writing them out (31-38k rows/s; up to 43k after a checkpoint). Neither phase reaches a checkpoint on
    its own: the load wrote 171 MB of WAL, the reference 75 MB."""
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("(no CHECKPOINT: the database user may not; a phase may pay for the other's WAL)")


def reference_rows(database_url: str, bodies: list[bytes]) -> list[list[Sequence[Any]]]:
    """The step rows of every batch: the very values ingest's own COPY sends to traces_step (times as
    timestamptz text, JSON texts, the trace id as hex), built once for every round."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    import django

    django.setup()
    from traces.ingest.decode import decode_request
    from traces.ingest.normalize import normalize_batch
    from traces.ingest.redact import BUILTIN_RULES, RedactionPolicy
    from traces.ingest.rows import ProjectConfig, stage, step_values

    config = ProjectConfig(project_id=1, redaction=RedactionPolicy(builtin=BUILTIN_RULES))
    prepared = []
    for body in bodies:
        staged = stage(normalize_batch(decode_request(body, "application/x-protobuf").spans), config)
        prepared.append([step_values(row) for row in staged.rows])
    return prepared


def reference_copy(database_url: str, prepared: list[list[Sequence[Any]]]) -> tuple[int, float]:
    """Rows/s of a raw COPY of the same step rows into a bare table, one committed transaction per batch."""
    import psycopg

    from traces.ingest.columns import STEP_COLUMNS

    columns = ", ".join(STEP_COLUMNS)
    with psycopg.connect(database_url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_reference")
        conn.execute("CREATE TABLE bench_copy_reference AS SELECT * FROM traces_step WITH NO DATA")
        conn.commit()
        _checkpoint(database_url)
        started = time.perf_counter()
        rows = 0
        for batch in prepared:
            with conn.cursor() as cur, cur.copy(f"COPY bench_copy_reference ({columns}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
            conn.commit()
            rows += len(batch)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy_reference")
        conn.commit()
    return rows, elapsed


@dataclass
class Round:
    stored: int
    runs: int
    wall: float
    latencies: list[float]
    cpu_server: float
    cpu_db: float
    peak_server: int
    peak_db: int
    reference_rows: int
    reference_elapsed: float

    @property
    def spans_per_s(self) -> float:
        return self.stored / self.wall

    @property
    def reference_per_s(self) -> float:
        return self.reference_rows / self.reference_elapsed

    @property
    def ratio(self) -> float:
        return self.spans_per_s / self.reference_per_s


def load(
    db_url: str, server_pid: int, port: int, key: str, bodies: list[bytes], exporters: int, protocol: str
) -> dict[str, Any]:
    """Send every batch through the endpoint from `exporters` processes, into empty tables."""
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute("TRUNCATE traces_step, traces_run, traces_runwords")
        conn.commit()
    _checkpoint(db_url)
    postmaster = _postmaster_pid(db_url)  # once: each lookup would open (fork) a new backend
    cpu_server0, cpu_db0 = _cpu(_tree(server_pid)), _cpu(_tree(postmaster))
    peak = {"server": 0, "db": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["server"] = max(peak["server"], _rss(_tree(server_pid)))
            peak["db"] = max(peak["db"], _rss(_tree(postmaster)))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    slices = [bodies[i::exporters] for i in range(exporters)]
    started = time.perf_counter()
    with multiprocessing.Pool(exporters) as pool:
        results = pool.map(_exporter, [(port, s, key, protocol) for s in slices])
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    cpu_server = _cpu(_tree(server_pid)) - cpu_server0
    cpu_db = _cpu(_tree(postmaster)) - cpu_db0
    with psycopg.connect(db_url) as conn:
        stored, runs = conn.execute(
            "SELECT (SELECT count(*) FROM traces_step), (SELECT count(*) FROM traces_run)"
        ).fetchone() or (0, 0)
    return {
        "stored": stored, "runs": runs, "wall": wall, "latencies": sorted(x for r in results for x in r),
        "cpu_server": cpu_server, "cpu_db": cpu_db, "peak_server": peak["server"], "peak_db": peak["db"],
    }  # fmt: skip


def _wait_ready(protocol: str, port: int, server_pid: int, workers: int) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if protocol == "http":
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
        else:
            # Every grpc process listening (one socket each on the shared port).
            listening = [
                c for p in _tree(server_pid) for c in p.net_connections("tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == port
            ]  # fmt: skip
            if len(listening) >= workers:
                return
        time.sleep(0.3)
    raise RuntimeError(f"the {protocol} server did not start within 60 s")


def _report(rounds: list[Round], args: argparse.Namespace, bodies: list[bytes]) -> None:
    kib = sum(len(b) for b in bodies) / len(bodies) / 1024
    print()
    print(f"batches                      {len(bodies)} x ~512 spans ({kib:.0f} KiB protobuf each)")
    server = "gunicorn workers" if args.protocol == "http" else "agentops grpc processes"
    print(f"protocol                     OTLP/{args.protocol.upper()} (protobuf)")
    print(f"exporters / workers x threads {args.exporters} / {args.workers} x {args.threads} ({server} x threads)")
    print(f"rounds                       {len(rounds)} (each: load, then the reference, each after a CHECKPOINT)")
    print()
    print("round  spans/s  p50/p95 ms  server s/1k  db s/1k  peak MiB srv/db  ref rows/s   ratio")
    for i, r in enumerate(rounds, 1):
        p50 = statistics.median(r.latencies) * 1000
        p95 = r.latencies[int(len(r.latencies) * 0.95) - 1] * 1000
        print(
            f"{i:>5}  {r.spans_per_s:>7,.0f}  {p50:>4.0f} / {p95:<4.0f}  {r.cpu_server / r.stored * 1000:>11.3f}"
            f"  {r.cpu_db / r.stored * 1000:>7.3f}  {r.peak_server / 2**20:>7.0f} / {r.peak_db / 2**20:<5.0f}"
            f"  {r.reference_per_s:>10,.0f}  {r.ratio:>6.1%}"
        )
    median = sorted(rounds, key=lambda r: r.ratio)[len(rounds) // 2]
    print()
    print(f"spans stored (in database)   {median.stored} in {median.runs} runs, every round")
    print(f"durably stored, median round {median.spans_per_s:,.0f} spans/s")
    print(f"reference, median round      {median.reference_per_s:,.0f} rows/s")
    print(f"ratio to reference           median {median.ratio:.1%}, rounds {min(r.ratio for r in rounds):.1%}-"
          f"{max(r.ratio for r in rounds):.1%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=120, help="512-span batches to send")
    parser.add_argument("--exporters", type=int, default=3, help="concurrent exporter processes")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (http) or agentops grpc processes")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per gunicorn worker (1: sync workers) or per grpc process"
    )
    parser.add_argument("--protocol", choices=["http", "grpc"], default="http", help="OTLP transport (default http)")
    parser.add_argument(
        "--server", choices=["async", "threads"], default="async", help="agentops web --server (http only)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="load + reference rounds; the median round's ratio is the result"
    )
    parser.add_argument(
        "--warmup-rounds", type=int, default=1, help="whole loads before the measured rounds, printed, not counted"
    )
    args = parser.parse_args()

    server = None
    with bench_project("agentops-bench-") as bench:
        try:
            env, db_url, key, agentops = bench.env, bench.db_url, bench.key, bench.agentops
            print(f"generating {args.batches} batches ...", flush=True)
            bodies = list(batches(args.batches))
            port = _free_port()
            if args.protocol == "http":
                command = [*agentops, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
                           "--threads", str(args.threads), "--server", args.server]  # fmt: skip
            else:
                # One parent (a shell) for the processes, so that CPU and memory are summed over its tree.
                grpc = [*agentops, "grpc", "--host", "127.0.0.1", "--port", str(port), "--threads", str(args.threads)]
                command = ["sh", "-c", " ".join([shlex.join(grpc) + " &"] * args.workers) + " wait"]
            server = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
            _wait_ready(args.protocol, port, server.pid, args.workers)
            # Warm up every worker (lazy imports such as genai-prices' data, connections, the month's
            # partition) outside the measurement: as many concurrent senders as workers, a few batches each.
            with multiprocessing.Pool(args.workers * 2) as pool:
                pool.map(_exporter, [(port, bodies[:3], key, args.protocol)] * (args.workers * 2))

            # Then whole loads, so that the rounds measure a server in its steady state: a fresh Postgres's
            # first load also pays for touching its shared buffers for the first time (its database CPU per
            # span was 0.031 s per 1,000 spans in a first round against 0.022-0.023 in the next two).
            for _ in range(args.warmup_rounds):
                warm = load(db_url, server.pid, port, key, bodies, args.exporters, args.protocol)
                print(f"warm-up round: {warm['stored'] / warm['wall']:,.0f} spans/s, "
                      f"database {warm['cpu_db'] / warm['stored'] * 1000:.3f} s per 1k spans (not counted)", flush=True)  # fmt: skip

            print(f"preparing the reference's rows, {args.rounds} rounds ...", flush=True)
            prepared = reference_rows(db_url, bodies)
            rounds = []
            for _ in range(args.rounds):
                measured = load(db_url, server.pid, port, key, bodies, args.exporters, args.protocol)
                ref_rows, ref_elapsed = reference_copy(db_url, prepared)
                rounds.append(Round(**measured, reference_rows=ref_rows, reference_elapsed=ref_elapsed))
            _report(rounds, args, bodies)
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
