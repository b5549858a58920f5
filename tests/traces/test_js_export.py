"""The real OpenTelemetry JS SDK and its OTLP exporters against real agentops processes, configured as a
Node.js user configures them (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_EXPORTER_OTLP_COMPRESSION): OTLP/HTTP JSON and protobuf, gzip or not, against `agentops web`
(gunicorn); OTLP/gRPC (@grpc/grpc-js) against `agentops grpc`. The run is read back through the REST API.
And the Vercel AI SDK itself (AI SDK 6 and 7, their capture scenarios) on a fake OpenAI API, exporting to
`agentops web`: what a Node.js agent built with it shows.

The JS exporters stream every body (Transfer-Encoding: chunked, no Content-Length): this is the path on
which Node.js agents could not send at all. The Node project is tests/fixtures/otlp/js/otel (exact pins
in its package-lock.json); a session fixture runs `npm ci` when its node_modules is missing, so a fresh
clone needs nothing but `node` and `npm` on the PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client
from genai_prices import Usage, calc_price

from tests.agentops.conftest import UpProcess
from tests.fixtures.otlp.fakes import FakeOpenAI
from tests.traces.conftest import IngestSetup, api_get
from tests.traces.servers import serve

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NODE_PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "otlp" / "js" / "otel"
NODE_DEADLINE = 120  # seconds for one export script (it sends one request; normally well under 2 s)
MS = 1_000_000

SYSTEM = {"role": "system", "parts": [{"type": "text", "content": "You answer questions about orders."}]}
ASK = {"role": "user", "parts": [{"type": "text", "content": "Where is my order A-100?"}]}
TOOL_CALL = {
    "role": "assistant",
    "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup_order", "arguments": {"order_id": "A-100"}}],
    "finish_reason": "tool_calls",
}
TOOL_RESULT = {
    "role": "tool",
    "parts": [{"type": "tool_call_response", "id": "call_1", "response": {"status": "shipped"}}],
}
ANSWER = {
    "role": "assistant",
    "parts": [{"type": "text", "content": "Your order A-100 has shipped."}],
    "finish_reason": "stop",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"`{name}` is not on the PATH: these tests run the OpenTelemetry JS SDK under Node.js"
    return path


def installed(project: Path) -> Path:
    """A Node project with its locked packages installed (`npm ci` on a fresh clone)."""
    node = _tool("node")
    if not (project / "node_modules").is_dir():
        subprocess.run([_tool("npm"), "ci", "--no-audit", "--no-fund"], cwd=project, check=True, timeout=600)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.lstrip("v").split(".")[0]) >= 20, f"Node.js {version} is too old for the pinned packages"
    return project


@pytest.fixture(scope="session")
def node_project() -> Path:
    return installed(NODE_PROJECT)


@pytest.fixture(scope="module")
def web(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    """One `agentops web` (gunicorn, one sync worker) on the test database for the module's tests."""

    def healthy(process: UpProcess) -> bool:
        try:
            return requests.get(process.url("/healthz"), timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    home = tmp_path_factory.mktemp("web") / "home"
    with serve("web", home, "--workers", "1", "--threads", "1", ready=healthy) as process:
        yield process


@pytest.fixture(scope="module")
def grpc_server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    """One `agentops grpc` on the test database for the module's tests."""
    home = tmp_path_factory.mktemp("grpc") / "home"
    with serve("grpc", home, "--threads", "2", LOG_LEVEL="INFO") as process:
        assert process.wait_for_output("agentops grpc: OTLP/gRPC on"), process.output
        yield process


def js_export(
    node_project: Path, server: UpProcess, setup: IngestSetup, protocol: str, compression: str
) -> dict[str, Any]:
    """Run the JS agent: it exports its run once and prints the ids it made (hex)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=server.url(""),
        OTEL_EXPORTER_OTLP_HEADERS=f"Authorization=Bearer%20{setup.key}",
        OTEL_EXPORTER_OTLP_COMPRESSION=compression,
    )
    result = subprocess.run(
        [_tool("node"), "export.mjs", protocol],
        cwd=node_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_DEADLINE,
    )
    assert result.returncode == 0, (result.stdout, result.stderr[-3000:], server.output[-3000:])
    ids: dict[str, Any] = json.loads(result.stdout)
    # One request, accepted: the exporter saw success (code 0 is ExportResultCode.SUCCESS).
    assert ids["results"] == [{"code": 0, "error": None}]
    return ids


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns % 1_000_000_000 // 1000).isoformat()


def _price(input_tokens: int, output_tokens: int, cache_read: int = 0) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cache_read)
    return float(calc_price(usage, "gpt-4o-2024-08-06", provider_id="openai").total_price)


def fetch_run(setup: IngestSetup, trace_id: str) -> dict[str, Any]:
    # Read back in this process: the server's ContentType cache (guardian's permission checks) goes
    # stale when transactional_db flushes and recreates the content types between tests.
    data: dict[str, Any] = api_get(Client(), setup.run_url(trace_id), setup)
    return data


@pytest.mark.parametrize(
    ("protocol", "compression"),
    [("json", "none"), ("json", "gzip"), ("proto", "none"), ("proto", "gzip")],
    ids=["json", "json-gzip", "protobuf", "protobuf-gzip"],
)
def test_a_node_agent_run_reads_back_through_the_api(
    node_project: Path, web: UpProcess, ingest: IngestSetup, protocol: str, compression: str
) -> None:
    ids = js_export(node_project, web, ingest, protocol, compression)
    assert_run(fetch_run(ingest, ids["trace_id"]), ids)
    # Search finds the run by words of its steps no preview holds: the failed call's error, a tool's name.
    for q in ("support tools", "lookup_order"):
        found = api_get(Client(), f"/api/v1/projects/{ingest.project.slug}/runs/?q={q.replace(' ', '+')}", ingest)
        assert [r["trace_id"] for r in found["results"]] == [ids["trace_id"]], q


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_the_node_grpc_exporter_run_reads_back_through_the_api(
    node_project: Path, grpc_server: UpProcess, ingest: IngestSetup, compression: str
) -> None:
    # @grpc/grpc-js, another gRPC implementation than the Python exporter's: the same run, the same fields.
    ids = js_export(node_project, grpc_server, ingest, "grpc", compression)
    assert_run(fetch_run(ingest, ids["trace_id"]), ids)


def assert_run(run: dict[str, Any], ids: dict[str, Any]) -> None:
    """The run export.mjs made, as the API must show it."""
    start_ns = int(ids["start_ns"])
    assert run["trace_id"] == ids["trace_id"]
    assert run["name"] == "invoke_agent support-bot-js"
    assert run["agent"] == "support-bot-js"
    assert (run["bundle"], run["environment"]) == ("support-bot-js@7", "staging")
    assert (run["session_id"], run["user_id"]) == ("conv-js-42", "user-js-7")
    assert run["status"] == "error"
    assert (run["start_time"], run["end_time"]) == (_iso(start_ns), _iso(start_ns + 10_000 * MS))
    assert (run["step_count"], run["llm_calls"], run["tool_calls"], run["error_count"]) == (5, 3, 1, 1)
    assert (run["input_tokens"], run["output_tokens"], run["cache_read_tokens"]) == (2700, 140, 200)
    assert run["cost_usd"] == pytest.approx(_price(1200, 80, cache_read=200) + _price(1500, 60), rel=1e-6)
    assert run["cost_complete"] is True
    assert run["tools"] == ["lookup_order"]
    assert (run["input_preview"], run["output_preview"]) == (
        "Where is my order A-100?",
        "Your order A-100 has shipped.",
    )

    (root,) = run["steps"]
    assert (root["span_id"], root["kind"], root["convention"]) == (ids["root"], "AGENT", "otel_genai")
    children = root["children"]
    assert [c["span_id"] for c in children] == [ids["chat_1"], ids["tool"], ids["chat_2"], ids["failed"]]
    chat_1, tool, chat_2, failed = children
    for step, usage, messages_in, messages_out in [
        (chat_1, (1200, 80, 200), [SYSTEM, ASK], [TOOL_CALL]),
        (chat_2, (1500, 60, None), [SYSTEM, ASK, TOOL_CALL, TOOL_RESULT], [ANSWER]),
    ]:
        assert (step["kind"], step["model"], step["provider"]) == ("LLM", "gpt-4o-2024-08-06", "openai")
        assert (step["input_tokens"], step["output_tokens"], step["cache_read_tokens"]) == usage
        assert (step["input"], step["output"]) == (messages_in, messages_out)
        assert step["priced"] is True
    assert chat_1["duration_ms"] == 1000
    assert (tool["kind"], tool["tool_name"], tool["tool_call_id"]) == ("TOOL", "lookup_order", "call_1")
    assert (tool["input"], tool["output"]) == ({"order_id": "A-100"}, {"status": "shipped"})
    assert (failed["kind"], failed["status"], failed["error_type"]) == ("LLM", "error", "BadRequestError")
    assert failed["error"] == "Error code: 400 - this model does not support tools"


@pytest.mark.parametrize(
    ("folder", "case", "steps"),
    [("vercel_ai_v6", "agent_run_v6", 4), ("vercel_ai", "agent_run", 6)],
    ids=["ai-6-experimental-telemetry", "ai-7-ai-sdk-otel"],
)
def test_a_vercel_ai_sdk_agent_reads_back_through_the_api(
    web: UpProcess, ingest: IngestSetup, folder: str, case: str, steps: int
) -> None:
    """The Vercel AI SDK itself (its capture scenario, tests/fixtures/otlp/js/<folder>) against a local
    fake of the OpenAI API, exporting to the real server: the agent, its calls and its messages."""
    project = installed(NODE_PROJECT.parent / folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_HEADERS"] = f"Authorization=Bearer%20{ingest.key}"  # the exporter adds it
    with FakeOpenAI() as fake:
        result = subprocess.run(
            [_tool("node"), "scenario.mjs", case, fake.base_url, web.url("")],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=NODE_DEADLINE,
        )
    assert result.returncode == 0, (result.stdout, result.stderr[-3000:], web.output[-3000:])

    listed = api_get(Client(), f"/api/v1/projects/{ingest.project.slug}/runs/", ingest)["results"]
    (ok,) = [r for r in listed if r["status"] != "error"]
    (failed,) = [r for r in listed if r["status"] == "error"]
    assert ok["agent"] == "weather_agent"  # functionId, not the service name (weather-agent)
    assert (ok["step_count"], ok["llm_calls"], ok["tool_calls"], ok["error_count"]) == (steps, 2, 1, 0)
    assert (ok["input_tokens"], ok["output_tokens"]) == (480, 30)
    assert ok["cost_usd"] > 0 and ok["cost_complete"] is True
    assert ok["tools"] == ["get_weather"]
    assert (ok["user_id"], ok["session_id"]) == ("user-42", "sess-vercel-1")
    assert (ok["input_preview"], ok["output_preview"]) == (
        "What is the weather in Paris?",
        "It is sunny in Paris, 21 degrees.",
    )
    assert (failed["agent"], failed["llm_calls"], failed["input_tokens"]) == ("weather_agent", 1, 0)
    assert failed["input_preview"] == "FAIL: now summarize the whole week."
