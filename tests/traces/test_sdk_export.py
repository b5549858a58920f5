"""The real OpenTelemetry Python SDK exporter against a live agentops server, configured as a user
configures it (OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS), with and without gzip; and the
same trace as OTLP/JSON (the Python SDK has no JSON exporter) posted with `requests`. Whatever the path,
the run and every step read back through the REST API must be the same, field by field.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from agentops.tenancy import services
from agentops.tenancy.roles import Role
from tests.factories import make_project
from tests.otlp import otlp_json
from tests.traces.conftest import (
    ANSWER,
    ASK,
    JSON,
    SYSTEM,
    TOOL_CALL,
    TOOL_RESULT,
    IngestSetup,
    SdkRun,
    emit_agent_run,
    setup_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns % 1_000_000_000 // 1000).isoformat()


def _price(input_tokens: int, output_tokens: int, cache_read: int = 0) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cache_read)
    return float(calc_price(usage, "gpt-4o-2024-08-06", provider_id="openai").total_price)


def fetch_run(base_url: str, setup: IngestSetup, trace_id: str) -> dict[str, Any]:
    response = requests.get(base_url + setup.run_url(trace_id), headers=setup.api_headers(), timeout=30)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    data: dict[str, Any] = response.json()
    return data


def assert_agent_run(run: dict[str, Any], ids: SdkRun) -> None:
    """The run `emit_agent_run` made, as the API must show it to an engineer."""
    ms = 1_000_000
    assert run["trace_id"] == ids.trace_id
    assert run["name"] == "invoke_agent support-bot"
    assert run["agent"] == "support-bot"
    assert (run["bundle"], run["bundle_source"]) == ("support-bot@7", "explicit")
    assert run["environment"] == "staging"
    assert (run["session_id"], run["user_id"]) == ("conv-42", "user-7")
    assert run["status"] == "error"
    assert run["start_time"] == _iso(ids.start_ns)
    assert run["end_time"] == _iso(ids.start_ns + 10_000 * ms)
    assert run["duration_ms"] == 10_000
    assert (run["step_count"], run["llm_calls"], run["tool_calls"], run["error_count"]) == (5, 3, 1, 1)
    assert (run["input_tokens"], run["output_tokens"]) == (2700, 140)
    assert (run["cache_read_tokens"], run["cache_write_tokens"], run["reasoning_tokens"]) == (200, 0, 0)
    expected_cost = _price(1200, 80, cache_read=200) + _price(1500, 60)
    assert expected_cost > 0
    assert run["cost_usd"] == pytest.approx(expected_cost, rel=1e-6)
    assert run["cost_complete"] is True
    assert run["unpriced_steps"] == 0
    assert run["reported_cost_usd"] is None
    assert sorted(run["models"]) == ["gpt-4o", "gpt-4o-2024-08-06"]
    assert run["tools"] == ["lookup_order"]
    assert run["input_preview"] == "Where is my order A-100?"
    assert run["output_preview"] == "Your order A-100 has shipped."

    # The tree: the agent at the root, its four calls under it in the order they started.
    (root,) = run["steps"]
    assert root["span_id"] == ids.root
    assert root["parent_span_id"] is None
    children = root["children"]
    assert [c["span_id"] for c in children] == [ids.chat_1, ids.tool, ids.chat_2, ids.failed]
    assert all(c["parent_span_id"] == ids.root and c["children"] == [] for c in children)
    chat_1, tool, chat_2, failed = children

    assert root["kind"] == "AGENT"
    assert root["name"] == "invoke_agent support-bot"
    assert root["status"] == "unset"
    assert root["duration_ms"] == 10_000
    assert root["model"] is None and root["input_tokens"] is None and root["cost_usd"] is None
    assert root["convention"] == "otel_genai"

    for step, (tokens_in, tokens_out, cached), messages_in, messages_out in [
        (chat_1, (1200, 80, 200), [SYSTEM, ASK], [TOOL_CALL]),
        (chat_2, (1500, 60, None), [SYSTEM, ASK, TOOL_CALL, TOOL_RESULT], [ANSWER]),
    ]:
        assert step["kind"] == "LLM"
        assert step["name"] == "chat gpt-4o"
        assert (step["model"], step["provider"]) == ("gpt-4o-2024-08-06", "openai")
        usage = (step["input_tokens"], step["output_tokens"], step["cache_read_tokens"])
        assert usage == (tokens_in, tokens_out, cached)
        assert step["usage_is_aggregate"] is False
        assert step["priced"] is True
        assert step["cost_usd"] == pytest.approx(_price(tokens_in, tokens_out, cached or 0), rel=1e-6)
        assert step["input"] == messages_in
        assert step["output"] == messages_out
        assert (step["status"], step["error"]) == ("unset", None)
        assert step["tool_name"] is None and step["tool_call_id"] is None
    assert chat_1["duration_ms"] == 1000

    assert tool["kind"] == "TOOL"
    assert tool["name"] == "execute_tool lookup_order"
    assert (tool["tool_name"], tool["tool_call_id"]) == ("lookup_order", "call_1")
    assert tool["input"] == {"order_id": "A-100"}
    assert tool["output"] == {"status": "shipped"}
    assert (tool["model"], tool["input_tokens"], tool["cost_usd"]) == (None, None, None)
    assert (tool["status"], tool["error"]) == ("unset", None)
    assert tool["duration_ms"] == 500

    assert failed["kind"] == "LLM"
    assert failed["status"] == "error"
    assert failed["error"] == "Error code: 400 - this model does not support tools"
    assert failed["error_type"] == "BadRequestError"
    assert (failed["model"], failed["provider"]) == ("gpt-4o", "openai")
    assert (failed["input_tokens"], failed["output_tokens"], failed["cost_usd"]) == (None, None, None)


class Wire:
    """What went over the wire: (status, Content-Encoding) of each export request, seen through a
    requests response hook on the session the exporter is given (the exporter itself is untouched)."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.seen: list[tuple[int, str | None]] = []
        self.session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.seen.append((response.status_code, response.request.headers.get("Content-Encoding")))


def sdk_export(live_url: str, setup: IngestSetup, compression: str, monkeypatch: pytest.MonkeyPatch) -> SdkRun:
    """Emit the agent run through an OTLPSpanExporter configured from the environment, as a user would."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", live_url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{setup.key}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    wire = Wire()
    ids = emit_agent_run(OTLPSpanExporter(session=wire.session))
    assert wire.seen == [(200, None if compression == "none" else compression)]
    return ids


@pytest.mark.parametrize("compression", ["gzip", "deflate", "none"])
def test_the_sdk_exporter_run_reads_back_field_by_field(
    live_server: Any, ingest: IngestSetup, compression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sdk_export(live_server.url, ingest, compression, monkeypatch)
    run = fetch_run(live_server.url, ingest, ids.trace_id)
    assert_agent_run(run, ids)

    # The step endpoint tells the same, with the raw attributes the step kept.
    response = requests.get(
        live_server.url + ingest.step_url(ids.trace_id, ids.failed), headers=ingest.api_headers(), timeout=30
    )
    assert response.status_code == 200
    step = response.json()
    assert step["trace_id"] == ids.trace_id
    assert (step["status"], step["error"], step["error_type"]) == (
        "error",
        "Error code: 400 - this model does not support tools",
        "BadRequestError",
    )
    (event,) = step["events"]
    assert event["name"] == "exception"

    # Search finds the run by words of its steps no preview holds: the failed call's error, a tool's name.
    for q in ("support tools", "lookup_order"):
        response = requests.get(
            live_server.url + f"/api/v1/projects/{ingest.project.slug}/runs/",
            params={"q": q},
            headers=ingest.api_headers(),
            timeout=30,
        )
        assert [r["trace_id"] for r in response.json()["results"]] == [ids.trace_id], q


@pytest.mark.parametrize("gzipped", [True, False], ids=["gzip", "none"])
def test_the_same_trace_as_otlp_json_reads_back_identically(
    live_server: Any, ingest: IngestSetup, gzipped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sdk_export(live_server.url, ingest, "none", monkeypatch)
    # The same spans (same ids) as OTLP/JSON into a second project the engineer also belongs to.
    twin_project = make_project()
    services.membership_grant(user=ingest.engineer, project=twin_project, role=Role.ENGINEER)
    twin = setup_for(twin_project, ingest.engineer)
    (resource_spans,) = encode_spans(ids.spans).resource_spans
    spans = [span for scope in resource_spans.scope_spans for span in scope.spans]
    body = otlp_json(spans, ids.resource)
    assert f'"{ids.trace_id}"' in body.decode()  # hex ids, as OTLP/JSON writes them
    headers = {"Content-Type": JSON, "Authorization": f"Bearer {twin.key}"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"

    response = requests.post(live_server.url + "/v1/traces", data=body, headers=headers, timeout=30)

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == JSON
    assert response.content == b"{}"
    twin_run = fetch_run(live_server.url, twin, ids.trace_id)
    assert_agent_run(twin_run, ids)
    assert twin_run == fetch_run(live_server.url, ingest, ids.trace_id)
