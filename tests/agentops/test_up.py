"""`agentops up` as a user runs it: a real supervisor, gunicorn, Celery worker and beat, embedded Postgres.

The tests of this module share one `up` (started on a fresh home) in the order written: the first
ones look at it running, one stops it with SIGTERM, the later ones start it again on the same home.
"""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

import psutil
import pytest
import requests

from tests.agentops.conftest import (
    UpProcess,
    agentops_env,
    assert_all_gone,
    free_port,
    run_agentops,
    start_up,
)


def first_run_credentials(up: UpProcess) -> dict[str, str]:
    assert up.wait_for_output("OTEL_EXPORTER_OTLP_HEADERS="), up.output
    found = {}
    for field in ("e-mail", "password", "ingest key"):
        match = re.search(rf"^  {field} +(\S+)$", up.output, re.MULTILINE)
        assert match, f"no {field} in:\n{up.output}"
        found[field] = match.group(1)
    return found


def log_in(up: UpProcess, email: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(up.url("/login/"), timeout=10)
    assert page.status_code == 200
    response = session.post(
        up.url("/login/"),
        data={"username": email, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    assert "/login/" not in response.headers["Location"]
    return session


def handle_pids(home: Path) -> list[int]:
    """The pids pgserver counts as holding the embedded server (it stops it when the last one exits)."""
    return list(json.loads((home / "pgdata" / ".handle_pids.json").read_text()))


@pytest.mark.slow
def test_first_start_prints_the_home_login_key_and_otel_lines_once(running_up: UpProcess) -> None:
    creds = first_run_credentials(running_up)

    assert f"agentops: data in {running_up.home}" in running_up.lines
    assert f"  log in at   http://127.0.0.1:{running_up.port}/login/" in running_up.lines
    assert creds["e-mail"] == "admin@localhost"
    assert creds["ingest key"].startswith("aok_")
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{running_up.port}" in running_up.lines
    assert f"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20{creds['ingest key']}" in running_up.lines
    assert running_up.output.count(creds["password"]) == 1
    grpc_line = f"OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{running_up.grpc_port}"
    assert grpc_line in running_up.lines
    # Celery's start-up banners are left out, so the login lines stay on screen.
    assert "[queues]" not in running_up.output


@pytest.mark.slow
def test_up_serves_otlp_grpc_on_its_grpc_port(running_up: UpProcess) -> None:
    import grpc

    from tests.otlp import AgentTrace, protobuf

    key = first_run_credentials(running_up)["ingest key"]
    trace = AgentTrace()
    with grpc.insecure_channel(f"127.0.0.1:{running_up.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        response = export(protobuf(trace.built()), metadata=[("authorization", f"Bearer {key}")], timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            export(protobuf(trace.built()), metadata=[("authorization", "Bearer aok_wrong")], timeout=30)
    assert response == b""  # OK: committed
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert f"grpc   | agentops grpc: OTLP/gRPC on 127.0.0.1:{running_up.grpc_port}" in running_up.output


@pytest.mark.slow
def test_children_share_the_supervisors_database_server(running_up: UpProcess) -> None:
    # Only `up` holds the embedded server: its children were given DATABASE_URL and never start one.
    assert handle_pids(running_up.home) == [running_up.popen.pid]
    pgdata = str(running_up.home / "pgdata")
    postmasters = [p for p in psutil.process_iter(["cmdline"]) if pgdata in (p.info["cmdline"] or [])]
    assert len(postmasters) == 1


@pytest.mark.slow
def test_the_printed_admin_logs_in(running_up: UpProcess) -> None:
    creds = first_run_credentials(running_up)

    session = log_in(running_up, creds["e-mail"], creds["password"])

    home = session.get(running_up.url("/"), timeout=10)
    assert home.status_code == 200
    assert "/login/" not in home.url


@pytest.mark.slow
def test_a_command_run_beside_up_attaches_to_its_database(running_up: UpProcess) -> None:
    postmaster = running_up.postgres()[0]

    result = run_agentops(
        "shell",
        "-c",
        "from agentops.tenancy.models import User; print('users:', *User.objects.values_list('email', flat=True))",
        env=running_up.env(),
    )

    assert result.returncode == 0, result.stderr
    assert "users: admin@localhost" in result.stdout
    # The shell let go of the server without stopping it: up still holds it.
    assert postmaster.is_running()
    assert handle_pids(running_up.home) == [running_up.popen.pid]
    assert requests.get(running_up.url("/readyz"), timeout=10).status_code == 200


@pytest.mark.slow
def test_a_second_up_on_the_same_home_refuses_to_start(running_up: UpProcess) -> None:
    postmaster = running_up.postgres()[0]

    result = run_agentops("up", "--port", str(free_port()), env=running_up.env(), timeout=60)

    assert result.returncode == 2
    assert "agentops up is already running with AGENTOPS_HOME" in result.stderr
    assert f"(pid {running_up.popen.pid})" in result.stderr
    # The refused one let go of the database without stopping it.
    assert postmaster.is_running()
    assert handle_pids(running_up.home) == [running_up.popen.pid]


@pytest.mark.slow
def test_sigterm_stops_every_child_then_postgres_and_exits_0(running_up: UpProcess) -> None:
    processes = running_up.processes()
    by_role = {name: psutil.Process(running_up.child_pid(name)) for name in ("web", "grpc", "worker", "beat")}
    assert by_role["web"].children(), "gunicorn has no worker"
    assert by_role["worker"].children(), "the Celery worker has no pool"
    assert running_up.postgres(), "no embedded postgres"

    code = running_up.stop(signal.SIGTERM)

    assert code == 0, running_up.output
    assert_all_gone(processes)
    assert "up     | stopping" in running_up.output


@pytest.mark.slow
def test_a_second_start_keeps_the_data_and_prints_no_new_password(running_up: UpProcess) -> None:
    creds = first_run_credentials(running_up)
    running_up.stop()

    again = start_up(running_up.home)
    try:
        again.wait_ready()
        assert again.wait_for_output("printed at the first start"), again.output
        assert "agentops createkey --project SLUG" in again.output
        assert "OTEL_EXPORTER_OTLP_HEADERS" not in again.output
        log_in(again, creds["e-mail"], creds["password"])
        processes = again.processes()
    finally:
        code = again.stop(signal.SIGINT)  # Ctrl-C
    assert code == 0, again.output
    assert_all_gone(processes)


@pytest.mark.slow
def test_a_child_that_dies_is_reported_and_up_stops_the_rest(running_up: UpProcess) -> None:
    running_up.stop()
    up = start_up(running_up.home)
    try:
        up.wait_ready()
        processes = up.processes()
        worker = up.child_pid("worker")

        psutil.Process(worker).kill()

        code = up.popen.wait(timeout=60)
    finally:
        up.stop()
    assert code != 0
    assert f"worker (pid {worker}) was killed by SIGKILL; see its log above" in up.output
    assert_all_gone(processes)


@pytest.mark.slow
def test_with_database_url_set_up_uses_it_and_leaves_its_server_alone(tmp_path: Path) -> None:
    import pgserver

    # Stands in for an operator's PostgreSQL: a server that `up` did not start and must not stop.
    server = pgserver.get_server(tmp_path / "external-pg", cleanup_mode="stop")
    try:
        up = start_up(tmp_path / "home", DATABASE_URL=server.get_uri())
        try:
            up.wait_ready()
            assert "agentops: database: DATABASE_URL; queue: filesystem in that folder" in up.lines
            first_run_credentials(up)
            assert not (tmp_path / "home" / "pgdata").exists()
        finally:
            code = up.stop()
        assert code == 0, up.output
        assert psutil.pid_exists(server.get_pid() or 0)
    finally:
        server.cleanup()


def test_a_port_in_use_fails_at_once_with_what_to_do(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_agentops("up", "--port", str(port), env=agentops_env(home), timeout=60)

    assert result.returncode == 2
    assert f"agentops: port {port} on 127.0.0.1 is in use: stop the other program or pass --port" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was started: not even the embedded database's folder was made.
    assert not (home / "pgdata").exists()


def test_a_grpc_port_in_use_fails_at_once_saying_how_to_move_or_drop_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        grpc_port = taken.getsockname()[1]

        result = run_agentops(
            "up", "--port", str(free_port()), env=agentops_env(home, GRPC_PORT=str(grpc_port)), timeout=60
        )

    assert result.returncode == 2
    assert (
        f"agentops: port {grpc_port} on 127.0.0.1 is in use: stop the other program or pass --grpc-port (0: no OTLP/gRPC)"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (home / "pgdata").exists()


def test_up_runs_agentops_grpc_on_its_grpc_port_unless_it_is_0() -> None:
    from agentops.management.commands.up import children

    with_grpc = {
        c.name: list(c.argv) for c in children(host="0.0.0.0", port=8000, workers=2, concurrency=2, grpc_port=4317)
    }
    without = [c.name for c in children(host="0.0.0.0", port=8000, workers=2, concurrency=2, grpc_port=0)]

    assert with_grpc["grpc"][-5:] == ["grpc", "--host", "0.0.0.0", "--port", "4317"]
    assert list(with_grpc) == ["web", "grpc", "worker", "beat"]
    assert without == ["web", "worker", "beat"]
