"""`agentops up`: everything on one machine, with no set-up.

Starts (once, in this process) the embedded PostgreSQL in AGENTOPS_HOME unless DATABASE_URL is set,
applies migrations, creates a first admin, project and ingest key on an empty installation, then runs
`agentops web`, `agentops grpc` (OTLP/gRPC on --grpc-port, 4317; 0: none), `agentops worker` and
`agentops beat` as children with DATABASE_URL pointing at that
database, so that they never start a server of their own. Prints the login, the key and the OTEL_*
lines once, when the web answers (or when `up` stops, if it never did).

Ctrl-C or SIGTERM stops the children, then the embedded server; exit code 0. A child that dies makes
`up` stop the others and exit 1. A port in use or an unwritable AGENTOPS_HOME fails at once, exit 2
(see agentops.cli, which checks them before the database is started).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections
from django.urls import reverse

from agentops.supervisor import ChildSpec, StartupError, Supervisor, preflight

DEFAULT_GRPC_PORT = 4317  # as settings.GRPC_PORT


def add_up_arguments(parser: CommandParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address the web listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port the web listens on (default 8000)")
    parser.add_argument("--workers", type=int, default=2, help="web worker processes (default 2)")
    parser.add_argument(
        "--grpc-port", type=int, default=None, help="port of OTLP/gRPC ingest (default GRPC_PORT, else 4317); 0: none"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="Celery pool processes (default 2)")


def grpc_port_or_default(option: int | None) -> int:
    """--grpc-port, else GRPC_PORT, read without the settings: loading them starts the embedded
    database, and the ports are checked before that (agentops.cli)."""
    if option is not None:
        return option
    value = os.environ.get("GRPC_PORT", "").strip()
    try:
        return int(value) if value else DEFAULT_GRPC_PORT
    except ValueError:
        raise StartupError(f"GRPC_PORT must be a whole number, not {value!r}") from None


def uses_embedded_database() -> bool:
    return not os.environ.get("DATABASE_URL")


def reachable_host(host: str) -> str:
    # A wildcard address is where the server listens, not where a browser (or a probe) can go.
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def base_url(host: str, port: int) -> str:
    shown = reachable_host(host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def grpc_lines(host: str, grpc_port: int) -> list[str]:
    if not grpc_port:
        return []
    return [
        "OTLP/gRPC exporters (the Collector's otlp exporter, Phoenix register()) go to the gRPC port:",
        f"OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT={base_url(host, grpc_port)}",
    ]


def first_run_banner(
    *, url: str, login_path: str, email: str, password: str, ingest_key: str, grpc: list[str] | None = None
) -> str:
    return "\n".join(
        [
            "",
            f"agentops is ready at {url}/",
            "First start: an admin account and an ingest key were created. They are shown only this once.",
            f"  log in at   {url}{login_path}",
            f"  e-mail      {email}",
            f"  password    {password}",
            f"  ingest key  {ingest_key}",
            "Point your agents' OpenTelemetry exporter at agentops (the SDK appends /v1/traces):",
            f"OTEL_EXPORTER_OTLP_ENDPOINT={url}",
            f"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20{ingest_key}",
            *(grpc or []),
            "",
        ]
    )


def later_start_banner(*, url: str, login_path: str) -> str:
    return "\n".join(
        [
            "",
            f"agentops is ready at {url}/  (log in at {url}{login_path})",
            "The admin login and the first ingest key were printed at the first start.",
            "  new ingest key:     agentops createkey --project SLUG",
            "  forgot a password:  agentops changepassword EMAIL",
            "",
        ]
    )


def child_env(*, database_url: str, host: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    # Pages print the OTEL lines with SITE_URL, and Django refuses hosts it does not know: follow
    # --host and --port unless the operator set these explicitly.
    env.setdefault("SITE_URL", base_url(host, port))
    if "ALLOWED_HOSTS" not in env and reachable_host(host) not in ("127.0.0.1", "localhost", "::1"):
        env["ALLOWED_HOSTS"] = f"127.0.0.1,localhost,[::1],{reachable_host(host)}"
    # The same home even if it came from the platform default, so the children find the same broker.
    env["AGENTOPS_HOME"] = str(settings.AGENTOPS_HOME)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def children(*, host: str, port: int, workers: int, concurrency: int, grpc_port: int = 0) -> list[ChildSpec]:
    agentops = [sys.executable, "-m", "agentops"]
    grpc = [ChildSpec("grpc", [*agentops, "grpc", "--host", host, "--port", str(grpc_port)])] if grpc_port else []
    return [
        ChildSpec("web", [*agentops, "web", "--host", host, "--port", str(port), "--workers", str(workers)]),
        *grpc,
        # --quiet: Celery's start-up banners would push the login lines off the screen.
        ChildSpec("worker", [*agentops, "worker", "--quiet", "--concurrency", str(concurrency)]),
        ChildSpec("beat", [*agentops, "beat", "--quiet"]),
    ]


def hold_home_lock(home: Path) -> IO[str]:
    lock = (home / "up.lock").open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise StartupError(
            f"agentops up is already running with AGENTOPS_HOME {home} (pid {holder}): "
            "stop it first, or set AGENTOPS_HOME to another folder"
        ) from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((reachable_host(host), port), timeout=1):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run agentops on this machine: database, migrations, web, worker and beat, stopped with Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        add_up_arguments(parser)

    def handle(
        self, *args: Any, host: str, port: int, workers: int, concurrency: int, grpc_port: int | None, **options: Any
    ) -> None:
        from agentops import embedded
        from agentops.celery import ensure_broker_folders
        from agentops.tenancy.services import bootstrap_first_run

        home = settings.AGENTOPS_HOME
        grpc_port = grpc_port_or_default(grpc_port)
        embedded_db = uses_embedded_database()
        # Checked again (agentops.cli did before the database started): the port may have been taken since.
        preflight(host=host, port=port, home=home, grpc_port=grpc_port)
        # Two `up`s on one home would share the queue and run beat twice: the second one stops here.
        # The lock is held (by the open file) until this process exits.
        self._lock = hold_home_lock(home)
        database_url = embedded.database_url(home) if embedded_db else os.environ["DATABASE_URL"]
        self.stdout.write(f"agentops: data in {home}")
        self.stdout.write(
            "agentops: database: "
            + ("embedded PostgreSQL in that folder" if embedded_db else "DATABASE_URL")
            + "; queue: "
            + ("filesystem in that folder" if not os.environ.get("CELERY_BROKER_URL") else "CELERY_BROKER_URL")
        )
        self.stdout.write("agentops: applying migrations")
        call_command("migrate", interactive=False, verbosity=0)
        first = bootstrap_first_run()
        ensure_broker_folders()
        # The children get their own connections; this process keeps none open while it waits.
        connections.close_all()

        url, login_path = base_url(host, port), reverse("login")
        if first is not None:
            banner = first_run_banner(
                url=url,
                login_path=login_path,
                email=first.admin.email,
                password=first.password,
                ingest_key=first.ingest_key.secret,
                grpc=grpc_lines(host, grpc_port),
            )
        else:
            banner = later_start_banner(url=url, login_path=login_path)
        shown = False

        def announce() -> None:
            nonlocal shown
            shown = True
            self.stdout.write(banner)
            self.stdout.flush()

        supervisor = Supervisor(
            children(host=host, port=port, workers=workers, concurrency=concurrency, grpc_port=grpc_port),
            env=child_env(database_url=database_url, host=host, port=port),
            out=sys.stdout,
        )
        try:
            code = supervisor.run(
                ready=lambda: listening(host, port) and (not grpc_port or listening(host, grpc_port)),
                on_ready=announce,
            )
        finally:
            if not shown and first is not None:
                # Never lose the only copy of the generated password, even if the web never came up.
                announce()
        if code:
            self.stderr.write(f"agentops: {supervisor.failure}, so `up` stopped the others (its log is above)")
            raise SystemExit(code)
