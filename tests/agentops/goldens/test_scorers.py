"""Every scorer on known cases: output scorers on plain values, trace scorers on facts and on a real
stored run, and the LLM judge against a local fake of an OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings

from agentops.goldens.assertions import validate_assertion
from agentops.goldens.facts import ToolCall, TraceFacts, trace_facts
from agentops.goldens.judge import http_judge, judge_for
from agentops.goldens.models import JudgeSettings
from agentops.goldens.scorers import Status, score
from tests.factories import make_project, make_run
from tests.otlp import AgentTrace
from traces.ids import trace_from_hex
from traces.selectors import project_run


def _score(spec: dict[str, Any], output: Any = None, facts: TraceFacts | None = None, **kw: Any):
    return score(validate_assertion(spec, "a"), output=output, facts=facts, **kw)


OUTPUT_CASES: list[tuple[dict[str, Any], Any, bool]] = [
    # (assertion, output, passes)
    ({"type": "equals", "value": "Shipped"}, "Shipped\n", True),
    ({"type": "equals", "value": "Shipped"}, "shipped", False),
    ({"type": "equals", "value": "Shipped", "ignore_case": True}, "shipped", True),
    ({"type": "equals", "value": {"a": 1}}, '{"a": 1}', True),
    ({"type": "equals", "value": {"a": 1}}, {"a": True}, False),
    ({"type": "contains", "value": "REFUND"}, "Your refund is on its way", True),
    ({"type": "contains", "value": "REFUND", "case_sensitive": True}, "Your refund is on its way", False),
    ({"type": "contains", "value": "shipped"}, {"status": "shipped"}, True),
    ({"type": "regex", "pattern": r"order \d{3}\b"}, "Where is order 104?", True),
    ({"type": "regex", "pattern": r"^order"}, "Where is order 104?", False),
    ({"type": "regex", "pattern": "ORDER", "ignore_case": True}, "order", True),
    ({"type": "json_equal", "value": {"a": [1, 2]}}, '{"a": [1, 2.0]}', True),
    ({"type": "json_equal", "value": {"a": [1, 2]}}, {"a": [1, 2], "b": 0}, False),
    ({"type": "json_equal", "value": 1}, True, False),
    ({"type": "json_equal", "value": {"a": 1}}, "not json", False),
    (
        {"type": "json_subset", "value": {"order": {"status": "shipped"}}},
        {"order": {"status": "shipped", "id": 7}},
        True,
    ),
    ({"type": "json_subset", "value": {"order": {"status": "shipped"}}}, {"order": {"status": "lost"}}, False),
    ({"type": "json_subset", "value": {"items": [{"id": 1}]}}, {"items": [{"id": 1, "n": 2}]}, True),
    ({"type": "json_subset", "value": {"items": [{"id": 1}]}}, {"items": [{"id": 1}, {"id": 2}]}, False),
    ({"type": "json_schema", "schema": {"type": "object", "required": ["id"]}}, '{"id": 3}', True),
    ({"type": "json_schema", "schema": {"type": "object", "required": ["id"]}}, {"name": "x"}, False),
    ({"type": "json_schema", "schema": {"type": "integer"}}, "three", False),
    ({"type": "number_close", "value": 3.14, "tolerance": 0.01}, "3.1415", True),
    ({"type": "number_close", "value": 3.14, "tolerance": 0.001}, 3.1415, False),
    ({"type": "number_close", "value": 100, "relative": 0.05}, 104, True),
    ({"type": "number_close", "value": 100, "relative": 0.05}, 106, False),
    ({"type": "number_close", "value": 1}, "one", False),
    ({"type": "number_close", "value": 1}, True, False),
]


@pytest.mark.parametrize(("spec", "output", "passes"), OUTPUT_CASES, ids=[str(i) for i in range(len(OUTPUT_CASES))])
def test_output_scorers(spec, output, passes):
    outcome = _score(spec, output)
    assert outcome.status is (Status.PASSED if passes else Status.FAILED), outcome.reason
    if not passes:
        assert outcome.reason


def test_reasons_say_where_json_differs():
    outcome = _score({"type": "json_subset", "value": {"order": {"status": "shipped"}}}, {"order": {"status": "lost"}})
    assert outcome.reason == "output does not hold the expected subset: $.order.status is 'lost', expected 'shipped'"
    outcome = _score({"type": "json_schema", "schema": {"properties": {"id": {"type": "integer"}}}}, {"id": "x"})
    assert outcome.reason.startswith("output does not match the schema at $.id:")


def test_no_output_fails_every_output_scorer():
    for spec, _, _ in OUTPUT_CASES:
        assert _score(spec, None).status is Status.FAILED


def test_an_unresolvable_ref_fails_without_fetching_anything():
    spec = {"type": "json_schema", "schema": {"$ref": "http://127.0.0.1:9/schema.json"}}
    with pytest.raises(Exception, match="Unresolvable"):
        _score(spec, {"a": 1})


FACTS = TraceFacts(
    tool_calls=(
        ToolCall("lookup_order", {"order": 100, "region": "eu"}),
        ToolCall("send_email", {"to": "[REDACTED:email]"}),
        ToolCall("lookup_order", {"order": 101}),
    ),
    steps=7,
    tool_call_count=3,
    latency_ms=5400.0,
    cost_usd=0.08,
    error_steps=(),
)

TRACE_CASES: list[tuple[dict[str, Any], bool]] = [
    ({"type": "tools_called", "tools": ["lookup_order"]}, True),
    ({"type": "tools_called", "tools": ["lookup_order", "lookup_order"]}, True),
    ({"type": "tools_called", "tools": ["send_email", "lookup_order"]}, True),
    ({"type": "tools_called", "tools": ["lookup_order", "refund"]}, False),
    ({"type": "tools_called", "tools": ["send_email", "send_email"]}, False),
    ({"type": "tools_called", "tools": ["lookup_order"], "arguments": [{"order": 101}]}, True),
    ({"type": "tools_called", "tools": ["lookup_order", "send_email"], "arguments": [{"order": 101}, None]}, False),
    ({"type": "tools_called", "tools": ["lookup_order"], "arguments": [{"order": 102}]}, False),
    ({"type": "tools_called", "tools": ["lookup_order", "send_email", "lookup_order"], "exact": True}, True),
    ({"type": "tools_called", "tools": ["lookup_order", "lookup_order"], "exact": True}, False),
    (
        {
            "type": "tools_called",
            "tools": ["lookup_order", "send_email", "lookup_order"],
            "arguments": [{"region": "us"}, None, None],
            "exact": True,
        },
        False,
    ),
    ({"type": "tools_not_called", "tools": ["refund", "cancel_order"]}, True),
    ({"type": "tools_not_called", "tools": ["refund", "lookup_order"]}, False),
    ({"type": "max_steps", "value": 7}, True),
    ({"type": "max_steps", "value": 6}, False),
    ({"type": "max_tool_calls", "value": 3}, True),
    ({"type": "max_tool_calls", "value": 2}, False),
    ({"type": "max_latency_ms", "value": 8000}, True),
    ({"type": "max_latency_ms", "value": 5000}, False),
    ({"type": "max_cost_usd", "value": 0.12}, True),
    ({"type": "max_cost_usd", "value": 0.05}, False),
    ({"type": "no_error"}, True),
]


@pytest.mark.parametrize(("spec", "passes"), TRACE_CASES, ids=[str(i) for i in range(len(TRACE_CASES))])
def test_trace_scorers(spec, passes):
    outcome = _score(spec, "any output", FACTS)
    assert outcome.status is (Status.PASSED if passes else Status.FAILED), outcome.reason


def test_trace_reasons_name_the_tools():
    outcome = _score({"type": "tools_called", "tools": ["lookup_order", "refund"]}, "x", FACTS)
    assert outcome.reason == (
        "expected lookup_order then refund; refund (expected call 2) missing; "
        "called lookup_order, send_email, lookup_order"
    )
    outcome = _score({"type": "tools_not_called", "tools": ["lookup_order"]}, "x", FACTS)
    assert outcome.reason == "called lookup_order (2x)"
    outcome = _score({"type": "tools_called", "tools": ["lookup_order"], "arguments": [{"order": 5}]}, "x", FACTS)
    assert outcome.reason == "lookup_order (expected call 1) was never called with the expected arguments"


def test_unfinished_runs_errors_and_unpriced_cost():
    unfinished = TraceFacts(latency_ms=None, error_steps=("execute_tool refund", "chat gpt-4o"), cost_usd=0.01)
    assert _score({"type": "max_latency_ms", "value": 1e9}, "x", unfinished).reason == "the run has not finished"
    failed = _score({"type": "no_error"}, "x", unfinished)
    assert failed.status is Status.FAILED and failed.reason == "2 step(s) failed: execute_tool refund, chat gpt-4o"
    unpriced = TraceFacts(cost_usd=0.01, unpriced_steps=2)
    assert _score({"type": "max_cost_usd", "value": 1}, "x", unpriced).status is Status.SKIPPED
    over = TraceFacts(cost_usd=2.0, unpriced_steps=2)
    assert _score({"type": "max_cost_usd", "value": 1}, "x", over).status is Status.FAILED


def test_trace_scorers_without_a_run_are_skipped_not_passed():
    for spec, _ in TRACE_CASES:
        outcome = _score(spec, "x", None)
        assert outcome.status is Status.SKIPPED and not outcome.passed


@pytest.mark.django_db
def test_facts_of_a_real_stored_run():
    project = make_project()
    trace = make_run(project, AgentTrace(llm_calls=2, tool_error=True))
    run = project_run(project, trace_from_hex(trace.trace_hex))
    assert run is not None
    facts = trace_facts(project, run)
    assert facts.tool_calls == (ToolCall("lookup_order", {"order": 100}),)
    assert (facts.steps, facts.tool_call_count) == (4, 1)
    assert facts.latency_ms == 7000.0  # the root span: two 2 s LLM slots, then the tool and 3 s more
    assert facts.error_steps == ("execute_tool lookup_order",)
    assert facts.cost_usd > 0 and facts.unpriced_steps == 0

    def outcome(spec: dict[str, Any]) -> Status:
        return _score(spec, "Answer 1", facts).status

    assert outcome({"type": "tools_called", "tools": ["lookup_order"], "arguments": [{"order": 100}]}) is Status.PASSED
    assert outcome({"type": "tools_called", "tools": ["lookup_order"], "arguments": [{"order": 7}]}) is Status.FAILED
    assert outcome({"type": "tools_not_called", "tools": ["refund"]}) is Status.PASSED
    assert outcome({"type": "max_steps", "value": 3}) is Status.FAILED
    assert outcome({"type": "max_latency_ms", "value": 7000}) is Status.PASSED
    assert outcome({"type": "max_latency_ms", "value": 6999}) is Status.FAILED
    assert outcome({"type": "no_error"}) is Status.FAILED
    # Another project's view of the same trace id finds nothing: facts come from the project's own run.
    assert project_run(make_project(), run.trace_id) is None


# --- The LLM judge ----------------------------------------------------------------------------------


class _FakeChat(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions: passes when the agent output mentions "refund"."""

    seen: list[dict[str, Any]] = []
    answer: str | None = None  # a fixed content to answer with
    status_code = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeChat.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        prompt = body["messages"][-1]["content"]
        verdict = "refund" in prompt.split("Agent output:", 1)[1]
        content = self.answer or json.dumps(
            {"pass": verdict, "reason": "mentions the refund" if verdict else "no refund"}
        )
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(self.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_chat() -> Iterator[str]:
    _FakeChat.seen, _FakeChat.answer, _FakeChat.status_code = [], None, 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _judge_spec() -> dict[str, Any]:
    return validate_assertion({"type": "llm_judge", "rubric": "Offers a refund politely"}, "a")


@pytest.mark.django_db
def test_the_judge_scores_through_the_projects_endpoint(fake_chat):
    project = make_project()
    assert judge_for(project) is None
    unconfigured = score(_judge_spec(), output="refund", facts=None, judge=None)
    assert unconfigured.status is Status.SKIPPED and "no LLM judge" in unconfigured.reason

    JudgeSettings.objects.create(
        project=project, base_url=fake_chat, model="judge-1", api_key="sk-test", timeout_seconds=5
    )
    judge = judge_for(project)
    assert judge is not None
    with override_settings(NOTIFY_ALLOW_PRIVATE_URLS=True):
        good = score(
            _judge_spec(), output="We will refund you.", facts=None, case_input={"q": "money back?"}, judge=judge
        )
        bad = score(_judge_spec(), output="No.", facts=None, judge=judge)
    assert good.status is Status.PASSED and good.reason == "mentions the refund"
    assert bad.status is Status.FAILED and bad.reason == "judge: no refund"
    request = _FakeChat.seen[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "judge-1"
    assert "Offers a refund politely" in request["body"]["messages"][-1]["content"]
    assert "money back?" in request["body"]["messages"][-1]["content"]


def test_a_judge_that_fails_is_an_error_never_a_pass(fake_chat):
    config = JudgeSettings(base_url=fake_chat, model="m", timeout_seconds=5)
    with override_settings(NOTIFY_ALLOW_PRIVATE_URLS=True):
        _FakeChat.answer = "I think it passes"
        assert score(_judge_spec(), output="refund", facts=None, judge=http_judge(config)).status is Status.ERROR
        _FakeChat.answer = '```json\n{"pass": true}\n```'
        assert score(_judge_spec(), output="x", facts=None, judge=http_judge(config)).status is Status.PASSED
        _FakeChat.answer, _FakeChat.status_code = None, 500
        outcome = score(_judge_spec(), output="refund", facts=None, judge=http_judge(config))
        assert outcome.status is Status.ERROR and outcome.reason == "the judge answered HTTP 500"
        closed = JudgeSettings(base_url="http://127.0.0.1:9/v1", model="m", timeout_seconds=5)
        outcome = score(_judge_spec(), output="refund", facts=None, judge=http_judge(closed))
        assert outcome.status is Status.ERROR and "could not be reached" in outcome.reason
    # Without the switch, a loopback endpoint is refused before any connection, as for webhooks.
    outcome = score(_judge_spec(), output="refund", facts=None, judge=http_judge(config))
    assert outcome.status is Status.ERROR and "private or loopback" in outcome.reason
    metadata = JudgeSettings(base_url="http://169.254.169.254/v1", model="m", timeout_seconds=5)
    with override_settings(NOTIFY_ALLOW_PRIVATE_URLS=True):
        outcome = score(_judge_spec(), output="refund", facts=None, judge=http_judge(metadata))
    assert outcome.status is Status.ERROR and "link-local" in outcome.reason
