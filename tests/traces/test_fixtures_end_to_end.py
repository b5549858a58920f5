"""Every captured fixture (tests/fixtures/otlp), POSTed as-is to /v1/traces, reads back through the step
endpoint exactly as its locked <case>.expected.json says, on every field the API exposes; LLM steps of
models genai-prices knows are priced.

The convention tests check normalize() against the same files in memory; this one checks what survives
the endpoint, the store and the API around it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from genai_prices import Usage, calc_price

from tests.fixtures.otlp import loader
from tests.traces.conftest import JSON, PROTOBUF, IngestSetup, api_get

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("window_for_captures")]


CASES = loader.cases()
# LlamaIndex's FunctionAgent streams, and OpenAI sends usage on a stream only when asked
# (agent_run_stream_usage is the same run with it asked).
SENDS_NO_USAGE = {("llama_index", "agent_run")}


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns % 1_000_000_000 // 1000).isoformat()


def _money(value: str | None) -> float | None:
    return None if value is None else float(Decimal(value))


def api_view_of(expected: dict[str, Any]) -> dict[str, Any]:
    """The step endpoint's fields, as they must read for an expected (normalized) step."""
    end_ns = expected["end_ns"]
    return {
        "trace_id": expected["trace_id"],
        "span_id": expected["span_id"],
        "parent_span_id": expected["parent_span_id"],
        "name": expected["name"],
        "kind": expected["kind"],
        "start_time": _iso(expected["start_ns"]),
        "end_time": _iso(end_ns),
        "status": expected["status"],
        "error": expected["error_message"] or expected["error_type"],
        "error_type": expected["error_type"],
        "model": expected["model"],
        "provider": expected["provider"],
        "input_tokens": expected["input_tokens"],
        "output_tokens": expected["output_tokens"],
        "cache_read_tokens": expected["cache_read_tokens"],
        "cache_write_tokens": expected["cache_write_tokens"],
        "reasoning_tokens": expected["reasoning_tokens"],
        "usage_is_aggregate": expected["usage_is_aggregate"],
        "reported_cost_usd": _money(expected["reported_cost_usd"]),
        "tool_name": expected["tool_name"],
        "tool_call_id": expected["tool_call_id"],
        "convention": expected["convention"],
        "input": expected["input"],
        "output": expected["output"],
        "attributes": expected["attributes"],
        "events": expected["events"],
    }


def known_price(step: dict[str, Any]) -> bool:
    """Whether genai-prices itself can price this step's model (asked without the product's help)."""
    if step["kind"] != "LLM" or step["usage_is_aggregate"] or not step["model"]:
        return False
    if not (step["input_tokens"] or step["output_tokens"]):
        return False
    # A routing prefix (LiteLLM's openai/gpt-4o-mini) names the provider of the bare model.
    for model in dict.fromkeys((step["model"], step["model"].rsplit("/", 1)[-1])):
        try:
            calc_price(Usage(input_tokens=1000, output_tokens=100), model)
        except LookupError:
            continue
        return True
    return False


def post_case(client: Client, setup: IngestSetup, convention: str, case: str) -> None:
    """POST every request body of the case, in the order the exporter sent them, exactly as captured."""
    for path in loader.request_paths(convention, case):
        content_type = JSON if path.suffix == ".json" else PROTOBUF
        response = client.post(
            "/v1/traces",
            data=path.read_bytes(),
            content_type=content_type,
            headers={"Authorization": f"Bearer {setup.key}"},
        )
        assert response.status_code == 200, (path.name, response.status_code, response.content[:500])
        # A captured request is valid as a whole: nothing may come back rejected.
        assert response.content in (b"", b"{}"), (path.name, response.content[:500])


@pytest.mark.parametrize(("convention", "case"), CASES, ids=[f"{c}/{k}" for c, k in CASES])
def test_a_captured_fixture_reads_back_as_expected(
    client: Client, ingest: IngestSetup, convention: str, case: str
) -> None:
    expected_steps = json.loads(loader.expected_json(convention, case))
    assert expected_steps, "a fixture with no expected steps checks nothing"

    post_case(client, ingest, convention, case)

    priced = 0
    for expected in expected_steps:
        step = api_get(client, ingest.step_url(expected["trace_id"], expected["span_id"]), ingest)
        want = api_view_of(expected)
        got = {name: step[name] for name in want}
        assert got == want, f"{convention}/{case} step {expected['span_id']} ({expected['name']})"
        if want["end_time"] is not None:
            assert step["duration_ms"] == pytest.approx((expected["end_ns"] - expected["start_ns"]) / 1e6)
        if known_price(expected):
            assert step["priced"] is True, (expected["name"], step["unpriced_reason"])
            assert step["cost_usd"] > 0, expected["name"]
            priced += 1

    # Each trace of the case became one run that reads as its locked summary says (<case>.runs.json:
    # agent, counts, tokens, cost, models, tools and previews), and its counts are its steps'.
    expected_runs = json.loads(loader.runs_json(convention, case))
    assert expected_runs.keys() == {s["trace_id"] for s in expected_steps}
    for trace_id, expected_run in expected_runs.items():
        steps = [s for s in expected_steps if s["trace_id"] == trace_id]
        run = api_get(client, ingest.run_url(trace_id), ingest)
        for field in loader.RUN_FIELDS:
            want = expected_run[field]
            assert run[field] == (pytest.approx(want, rel=1e-9) if field == "cost_usd" else want), (trace_id, field)
        assert run["step_count"] == len(steps)
        assert run["tool_calls"] == sum(s["kind"] == "TOOL" for s in steps)
        assert run["error_count"] == sum(s["status"] == "error" for s in steps)
        # A model call recorded twice is one call: never more calls than LLM steps that are not duplicates.
        assert run["llm_calls"] <= sum(s["kind"] == "LLM" and not s["duplicate_of"] for s in steps)
    # Every case holds LLM calls with usage of known models, a case where none was checked checking no
    # cost; but for the libraries that send no usage at all, which must then hold none.
    if (convention, case) in SENDS_NO_USAGE:
        assert not any(s["input_tokens"] or s["output_tokens"] for s in expected_steps)
    else:
        assert priced, f"{convention}/{case}: no LLM step with a known model was priced"
