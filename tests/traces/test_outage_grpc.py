"""PostgreSQL going away under a running `agentops grpc`: Export answers UNAVAILABLE with a RetryInfo of
INGEST_RETRY_AFTER_SECONDS (never OK for what it did not store), and the real OpenTelemetry gRPC
exporter, retrying, gets its batch through once PostgreSQL is back, stored exactly once.

The separate PostgreSQL and its stop/start are test_outage.py's.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.agentops.conftest import UpProcess, free_port
from tests.otlp import AgentTrace, protobuf
from tests.traces.conftest import emit_agent_run
from tests.traces.test_outage import (
    DEADLINE,
    RETRY_AFTER,
    UNAVAILABLE_EVENT,
    Postgres,
    postgres,  # noqa: F401  # the fixture
    project_on,
    stored,
)

pytestmark = pytest.mark.slow

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def grpc_process(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[UpProcess, str]]:  # noqa: F811
    env, key = project_on(postgres, tmp_path / "home")
    port = free_port()
    popen = subprocess.Popen(
        [sys.executable, "-m", "agentops", "grpc", "--port", str(port), "--threads", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    process = UpProcess(popen=popen, home=tmp_path / "home", port=port)
    try:
        assert process.wait_for_output("agentops grpc: OTLP/gRPC on", DEADLINE), process.output
        yield process, key
    finally:
        process.stop()
        _, alive = psutil.wait_procs([psutil.Process(popen.pid)] if popen.poll() is None else [], timeout=DEADLINE)
        assert not alive


def call(process: UpProcess, key: str, body: bytes) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{process.port}") as channel:
        response: bytes = channel.unary_unary(EXPORT)(body, metadata=[("authorization", f"Bearer {key}")], timeout=30)
        return response


def test_an_outage_is_unavailable_with_retry_info_and_the_exporter_gets_through_afterwards(
    postgres: Postgres,  # noqa: F811
    grpc_process: tuple[UpProcess, str],
) -> None:
    process, key = grpc_process
    before = AgentTrace()
    assert call(process, key, protobuf(before.built())) == b""
    assert stored(postgres, before.trace_hex) == (4, 4)

    postgres.stop()
    during = AgentTrace()
    with pytest.raises(grpc.RpcError) as caught:
        call(process, key, protobuf(during.built()))

    error = caught.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry" in (error.details() or "")
    trailers = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == code_pb2.UNAVAILABLE
    (detail,) = status.details
    retry = error_details_pb2.RetryInfo()
    assert detail.Unpack(retry)
    assert retry.retry_delay.seconds == RETRY_AFTER
    assert error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]) == retry

    # PostgreSQL comes back once the exporter has been refused at least once (the second unavailable event).
    restart_errors: list[BaseException] = []

    def restart_when_the_exporter_was_refused() -> None:
        try:
            end = time.monotonic() + DEADLINE
            while process.output.count(UNAVAILABLE_EVENT) < 2:
                if time.monotonic() > end:
                    raise TimeoutError(f"the exporter's first attempt never reached the server:\n{process.output}")
                time.sleep(0.1)
            postgres.start()
        except BaseException as exc:
            restart_errors.append(exc)

    restarter = threading.Thread(target=restart_when_the_exporter_was_refused, daemon=True)
    restarter.start()
    ids = emit_agent_run()
    exporter = OTLPSpanExporter(
        endpoint=f"http://127.0.0.1:{process.port}", headers={"authorization": f"Bearer {key}"}, timeout=DEADLINE
    )
    started = time.monotonic()
    result = exporter.export(ids.spans)
    took = time.monotonic() - started
    exporter.shutdown()

    restarter.join(DEADLINE)
    assert not restart_errors, restart_errors
    assert result is SpanExportResult.SUCCESS, process.output[-3000:]
    # The exporter waited the RetryInfo's delay (its own backoff would start at ~1 s).
    assert took >= RETRY_AFTER * 0.9
    assert stored(postgres, ids.trace_id) == (5, 5)
    assert stored(postgres, during.trace_hex) == (0, None)
    assert stored(postgres, before.trace_hex) == (4, 4)
