"""normalize(): drop rules, kind priority, aggregate usage, nothing dropped, generic spans, messages,
and the throughput on a realistic batch (measured and printed, never asserted: machines are noisy)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.otlp.loader import cases, load_spans
from traces.ingest import messages
from traces.ingest.conventions.base import jsonable, jsonable_with_text
from traces.ingest.normalize import detect_kind, normalize, normalize_batch
from traces.ingest.spans import Span, SpanEvent
from traces.ingest.steps import Step, StepKind

_ids = iter(range(1, 1 << 60))


def make_span(
    attributes: dict[str, Any],
    *,
    name: str = "span",
    scope: str = "test",
    status: int = 0,
    events: tuple[SpanEvent, ...] = (),
    resource: dict[str, Any] | None = None,
    parent: bytes | None = None,
    trace_id: bytes = b"\x01" * 16,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=next(_ids).to_bytes(8, "big"),
        parent_span_id=parent,
        name=name,
        kind=1,
        start_time_unix_nano=1_767_225_600_000_000_000,
        end_time_unix_nano=1_767_225_601_000_000_000,
        status_code=status,
        status_message="",
        attributes=attributes,
        events=events,
        links=(),
        resource=resource if resource is not None else {"service.name": "svc"},
        scope_name=scope,
        scope_version="",
    )


def one(attributes: dict[str, Any], **kwargs: Any) -> Step:
    step = normalize(make_span(attributes, **kwargs))
    assert step is not None
    return step


# --- kinds ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "kind"),
    [
        # explicit product attribute beats everything but our own override
        ({"langfuse.observation.type": "tool", "openinference.span.kind": "LLM"}, StepKind.TOOL),
        ({"openinference.span.kind": "RETRIEVER", "gen_ai.operation.name": "chat"}, StepKind.RETRIEVER),
        ({"gen_ai.operation.name": "invoke_agent", "traceloop.span.kind": "tool"}, StepKind.AGENT),
        ({"traceloop.span.kind": "task", "gen_ai.request.model": "m"}, StepKind.CHAIN),
        ({"llm.request.type": "embedding"}, StepKind.EMBEDDING),
        ({"gen_ai.tool.name": "search", "gen_ai.request.model": "m"}, StepKind.TOOL),
        ({"tool.id": "call_1"}, StepKind.TOOL),
        ({"gen_ai.request.model": "gpt-4o"}, StepKind.LLM),
        ({"embedding.model_name": "text-embedding-3-small"}, StepKind.EMBEDDING),
        ({"gen_ai.operation.name": "apply_guardrail"}, StepKind.GUARDRAIL),
        ({"gen_ai.operation.name": "invoke_workflow"}, StepKind.CHAIN),
        ({"openinference.span.kind": "UNKNOWN", "gen_ai.request.model": "m"}, StepKind.LLM),
        ({"http.method": "GET"}, StepKind.SPAN),
        ({"agentops.step.kind": "APPROVAL", "langfuse.observation.type": "tool"}, StepKind.APPROVAL),
        ({"agentops.step.kind": "not-a-kind", "gen_ai.operation.name": "chat"}, StepKind.LLM),
    ],
)
def test_kind_priority(attributes: dict[str, Any], kind: StepKind) -> None:
    assert detect_kind(attributes) is kind
    assert one(attributes).kind is kind


# --- usage ------------------------------------------------------------------------------------------


def test_usage_on_agent_spans_is_aggregate_and_on_model_calls_is_not() -> None:
    usage = {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2}
    assert one({"gen_ai.operation.name": "chat", **usage}).usage_is_aggregate is False
    assert one({"gen_ai.operation.name": "embeddings", **usage}).usage_is_aggregate is False
    assert one({"gen_ai.operation.name": "invoke_agent", **usage}).usage_is_aggregate is True
    assert one({"openinference.span.kind": "CHAIN", "llm.token_count.prompt": 10}).usage_is_aggregate is True
    assert one({"langfuse.observation.type": "agent", **usage}).usage_is_aggregate is True
    # Pydantic AI's run totals, even on a span whose kind says nothing
    aggregated = one({"gen_ai.aggregated_usage.input_tokens": 480, "gen_ai.usage.input_tokens": 1})
    assert aggregated.usage_is_aggregate is True and aggregated.input_tokens == 480
    assert aggregated.attributes == {"gen_ai.usage.input_tokens": 1}
    assert one({"gen_ai.operation.name": "invoke_agent"}).usage_is_aggregate is False  # no usage at all


def test_old_and_new_token_names_are_both_read() -> None:
    old = one({"gen_ai.system": "openai", "gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 3})
    new = one({"gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3})
    for step in (old, new):
        assert (step.provider, step.input_tokens, step.output_tokens) == ("openai", 7, 3)
        assert step.attributes == {}
    cache = one(
        {
            "gen_ai.usage.cache_read.input_tokens": 5,
            "gen_ai.usage.cache_creation.input_tokens": 4,
            "gen_ai.usage.reasoning.output_tokens": "2",  # strings are accepted
        }
    )
    assert (cache.cache_read_tokens, cache.cache_write_tokens, cache.reasoning_tokens) == (5, 4, 2)
    unreadable = one({"gen_ai.usage.input_tokens": "many"})
    assert unreadable.input_tokens is None and unreadable.attributes == {"gen_ai.usage.input_tokens": "many"}


# --- drop rules, generic spans, nothing dropped -------------------------------------------------------


def test_pending_span_is_the_only_span_dropped() -> None:
    pending = make_span({"logfire.span_type": "pending_span", "logfire.msg": "x"})
    real = make_span({"logfire.span_type": "span", "logfire.msg": "x"})
    assert normalize(pending) is None
    assert [s.span_id for s in normalize_batch([pending, real])] == [real.span_id.hex()]


def test_unrecognized_span_is_a_generic_step_with_every_attribute() -> None:
    attributes = {
        "http.route": "/x",
        "db.rows": 3,
        "ratio": 0.5,
        "blob": b"\x00\xff",
        "nested": {"a": [1, b"\x01"]},
        "weird": float("nan"),
    }
    step = one(attributes, name="GET /x", resource={"service.name": "api", "service.version": "9"})
    assert (step.kind, step.convention) == (StepKind.SPAN, "generic")
    assert step.attributes == {
        "http.route": "/x",
        "db.rows": 3,
        "ratio": 0.5,
        "blob": "AP8=",
        "nested": {"a": [1, "AQ=="]},
        "weird": "NaN",
    }
    assert json.loads(json.dumps(step.attributes)) == step.attributes
    assert (step.service_name, step.service_version) == ("api", "9")
    assert step.input is None and step.output is None


def test_ids_times_status_and_exception_events() -> None:
    parent = b"\x0a" * 8
    event = SpanEvent("exception", 5, {"exception.type": "ValueError", "exception.message": "bad"})
    span = make_span({"error.type": "ValueError"}, status=2, events=(event,), parent=parent)
    step = normalize(span)
    assert step is not None
    assert step.trace_id == "01" * 16 and len(step.span_id) == 16 and step.parent_span_id == "0a" * 8
    assert (step.status, step.error_type, step.error_message) == ("error", "ValueError", "bad")
    assert step.events == [{"name": "exception", "time_ns": 5, "attributes": dict(event.attributes)}]
    assert one({}, status=1).status == "ok" and one({}).status == "unset"
    unfinished = normalize(dataclasses.replace(make_span({}), end_time_unix_nano=0))
    assert unfinished is not None and unfinished.end_ns is None


_DISCRIMINATORS = frozenset({"function", "tool-call", "tool-result", "json"})


def _leaves(value: Any) -> list[Any]:
    """The scalar leaves of an attribute value, with JSON text parsed, as they must reappear."""
    if isinstance(value, str):
        parsed = value
        if value[:1] in ("{", "["):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
        if parsed is not value:
            return _leaves(parsed)
        return [value] if value else []
    if isinstance(value, dict):
        # Type discriminators that a canonical part's own "type" stands for: OpenAI's {"type": "function"}
        # tool call, the AI SDK's tool-call / tool-result parts and its {"type": "json", "value"} result.
        return [
            leaf
            for k, v in value.items()
            if not (k == "type" and isinstance(v, str) and v in _DISCRIMINATORS)
            for leaf in _leaves(v)
        ]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, bool) or value is None:
        return []
    return [value]


@pytest.mark.parametrize(("convention", "case"), cases(), ids=[f"{c}/{k}" for c, k in cases()])
def test_nothing_a_user_sent_is_silently_dropped(convention: str, case: str) -> None:
    """Every attribute is either still in `attributes`, or each of its values lives in a promoted field."""
    for span in load_spans(convention, case):
        step = normalize(span)
        if step is None:
            continue
        fields = {name: getattr(step, name) for name in step.__dataclass_fields__ if name != "attributes"}
        haystack = json.dumps(fields, default=str)
        for key, value in span.attributes.items():
            if key in step.attributes:
                continue
            for leaf in _leaves(value):
                spellings = {json.dumps(leaf)[1:-1], str(leaf)}
                if isinstance(leaf, float):
                    spellings.add(str(Decimal(str(leaf))))  # reported_cost_usd
                assert any(s in haystack for s in spellings), (span.name, key, leaf)


@pytest.mark.parametrize("junk", [None, 7, -1.5, True, "", "[", '{"a": ', "[1, 2]", b"\xff", [], [None, {}], {"x": []}])
def test_junk_values_under_every_known_key_never_break_normalization(junk: Any) -> None:
    """Senders get attribute types wrong; a step must still come out, the value kept."""
    keys = {key for c, k in cases() for span in load_spans(c, k) for key in span.attributes}
    for marker in ("langfuse.observation.type", "openinference.span.kind", "logfire.msg", "traceloop.span.kind"):
        attributes = dict.fromkeys(keys, junk)
        attributes[marker] = {"langfuse.observation.type": "generation", "traceloop.span.kind": "tool"}.get(
            marker, "LLM"
        )
        for kind in ("chat", "execute_tool", "invoke_agent"):
            attributes["gen_ai.operation.name"] = kind
            step = one(attributes)
            assert json.loads(json.dumps(step.attributes)) == step.attributes


# --- messages -----------------------------------------------------------------------------------------


def test_system_instructions_become_a_leading_system_message() -> None:
    step = one(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system_instructions": '[{"type": "text", "content": "Be terse."}]',
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
        }
    )
    assert step.input == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    assert step.attributes == {"gen_ai.operation.name": "chat"}


def test_a_payload_holding_nan_keeps_it_spelled_out() -> None:
    # Python's json.dumps writes NaN, which orjson refuses and json reads back as a float; orjson would
    # write it as null, silently changing what the agent sent.
    step = normalize(
        make_span(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "t",
                "gen_ai.tool.call.arguments": '{"x": NaN}',
            }
        )
    )
    assert step is not None
    assert (step.input, step.input_json) == ({"x": "NaN"}, None)


def test_otel_messages_already_in_the_one_shape_are_kept_and_others_converted() -> None:
    canonical = [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": {"a": 1}}]},
    ]
    kept = messages.from_otel(canonical)
    assert kept is not None and [id(m) for m in kept] == [id(m) for m in canonical]
    converted = messages.from_otel(
        [
            {"role": "developer", "parts": [{"type": "text", "content": "be brief"}]},
            {"role": ["odd"], "parts": ["plain"]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "c2", "name": "f", "arguments": '{"a": 2}'}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c2", "result": 3}]},
        ]
    )
    assert converted == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "plain"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c2", "name": "f", "arguments": {"a": 2}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c2", "response": 3}]},
    ]


def test_openai_messages_convert_to_the_canonical_shape() -> None:
    converted = messages.from_openai(
        {
            "messages": [
                {"role": "developer", "content": "rules"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "u"}}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"x": 1}'}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ]
        }
    )
    assert converted == [
        {"role": "system", "parts": [{"type": "text", "content": "rules"}]},
        {
            "role": "user",
            "parts": [{"type": "text", "content": "look"}, {"type": "uri", "modality": "image", "uri": "u"}],
        },
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": {"x": 1}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "ok"}]},
    ]
    assert messages.from_openai({"question": "not messages"}) is None
    assert messages.wrap({"question": "q"}, "user") == [
        {"role": "user", "parts": [{"type": "text", "content": '{"question":"q"}'}]}
    ]


def test_every_convention_renders_the_same_conversation_the_same_way() -> None:
    """The second LLM call of each captured agent, as the UI gets it: role and part types agree."""
    from tests.traces.ingest.conventions.helpers import of_kind, steps_of

    shapes = {}
    for convention in ("openinference", "otel_genai", "openllmetry", "langfuse"):
        second = of_kind(steps_of(convention, "agent_run"), StepKind.LLM)[1]
        shapes[convention] = [(m["role"], [p["type"] for p in m["parts"]]) for m in second.input]
    expected = [
        ("system", ["text"]),
        ("user", ["text"]),
        ("assistant", ["tool_call"]),
        ("tool", ["tool_call_response"]),
    ]
    assert shapes == dict.fromkeys(shapes, expected)


def test_jsonable_keeps_json_values_and_converts_the_rest() -> None:
    assert jsonable({"a": (1, 2.5, None, True)}) == {"a": [1, 2.5, None, True]}
    assert jsonable(float("inf")) == "Infinity"


def test_payloads_keep_their_json_text_only_when_it_is_theirs() -> None:
    # Storage writes input_json / output_json instead of serializing the payload again.
    steps = [step for convention, case in cases() for step in normalize_batch(load_spans(convention, case))]
    kept = 0
    for step in steps:
        pairs = (
            (step.input, step.input_json),
            (step.output, step.output_json),
            (step.attributes, step.attributes_json),
        )
        for value, text in pairs:
            if text is not None:
                kept += 1
                assert json.loads(text) == value
    assert kept > 40
    # A value JSON cannot hold as it is (bytes, a non-string key) or that orjson would write lossily
    # (non-finite floats as null) goes through jsonable, and has no text.
    assert jsonable_with_text({"a": 1, "b": [1.5, "x"]}) == ({"a": 1, "b": [1.5, "x"]}, '{"a":1,"b":[1.5,"x"]}')
    assert jsonable_with_text({"raw": b"\x00\x01", 1: "one"}) == ({"raw": "AAE=", "1": "one"}, None)
    assert jsonable_with_text([{"x": float("nan"), "y": float("-inf")}]) == ([{"x": "NaN", "y": "-Infinity"}], None)
    assert jsonable_with_text("plain text") == ("plain text", None)


# --- throughput ---------------------------------------------------------------------------------------


def _realistic_batch(size: int = 512) -> list[Span]:
    """Agent root with summed usage, 6 LLM calls with ~1.5 KB of messages each, 5 tool calls, per trace."""
    user_text = "Please check the weather and the calendar, then plan my day. " * 20
    spans: list[Span] = []
    trace = 0
    while len(spans) < size:
        trace += 1
        trace_id = trace.to_bytes(16, "big")
        resource = {"service.name": "planner", "service.version": "2.1.0", "deployment.environment.name": "prod"}
        root = make_span(
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                "gen_ai.usage.input_tokens": 9000,
                "gen_ai.usage.output_tokens": 900,
                "gen_ai.conversation.id": f"conv-{trace}",
            },
            name="invoke_agent planner",
            resource=resource,
            trace_id=trace_id,
        )
        spans.append(root)
        for call in range(6):
            history = [{"role": "user", "parts": [{"type": "text", "content": user_text}]}]
            history += [
                {
                    "role": "assistant",
                    "parts": [{"type": "tool_call", "id": f"c{i}", "name": "lookup", "arguments": {"q": i}}],
                }
                for i in range(call)
            ]
            spans.append(
                make_span(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4.1-mini",
                        "gen_ai.response.model": "gpt-4.1-mini-2025-04-14",
                        "gen_ai.usage.input_tokens": 1500,
                        "gen_ai.usage.output_tokens": 150,
                        "gen_ai.usage.cache_read.input_tokens": 1024,
                        "gen_ai.system_instructions": '[{"type": "text", "content": "You plan days."}]',
                        "gen_ai.input.messages": json.dumps(history),
                        "gen_ai.output.messages": json.dumps(
                            [
                                {
                                    "role": "assistant",
                                    "parts": [{"type": "text", "content": "Done."}],
                                    "finish_reason": "stop",
                                }
                            ]
                        ),
                        "gen_ai.response.finish_reasons": ["stop"],
                        "server.address": "api.openai.com",
                    },
                    name="chat gpt-4.1-mini",
                    resource=resource,
                    parent=root.span_id,
                    trace_id=trace_id,
                )
            )
        for call in range(5):
            spans.append(
                make_span(
                    {
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": "lookup",
                        "gen_ai.tool.call.id": f"c{call}",
                        "gen_ai.tool.call.arguments": f'{{"q": {call}}}',
                        "gen_ai.tool.call.result": '{"rows": [1, 2, 3], "source": "calendar"}',
                    },
                    name="execute_tool lookup",
                    resource=resource,
                    parent=root.span_id,
                    trace_id=trace_id,
                )
            )
    return spans[:size]


def _measure(spans: list[Span], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        steps = normalize_batch(spans)
        best = min(best, time.perf_counter() - started)
        assert len(steps) == len(spans)
    return len(spans) / best


def test_normalize_throughput_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    batch = _realistic_batch()
    assert len(batch) == 512
    steps = normalize_batch(batch)
    kinds = [s.kind for s in steps]
    assert kinds.count(StepKind.LLM) > 6 * kinds.count(StepKind.AGENT) - 6
    assert all(s.input is not None for s in steps if s.kind is StepKind.LLM)
    captured = [
        span
        for convention, case in cases()
        for span in load_spans(convention, case)
        if span.attributes.get("logfire.span_type") != "pending_span"
    ]
    replay = (captured * (512 // len(captured) + 1))[:512]
    with capsys.disabled():
        print(
            f"\nnormalize_batch: {_measure(batch):,.0f} steps/s on 512 synthetic OTel GenAI spans; "
            f"{_measure(replay):,.0f} steps/s on 512 spans replayed from the captured fixtures"
        )


@pytest.mark.parametrize(
    ("module", "call", "cls"),
    [("traces/ingest/normalize.py", "return Step(", Step), ("traces/ingest/decode.py", "return Span(", Span)],
)
def test_positional_constructor_calls_name_the_fields_in_order(module: str, call: str, cls: type) -> None:
    # The hot paths build Step and Span positionally (keyword matching cost more than the rest of the
    # call), with a comment naming each field: the comments must follow the dataclass's field order.
    source = (Path(__file__).resolve().parents[3] / module).read_text()
    start = source.index(call)
    body = source[start : source.index("\n    )\n", start)]
    named = re.findall(r"#\s*(?:type: ignore\[[^\]]*\]\s*#\s*)?(\w+)\s*$", body, re.MULTILINE)
    assert named == [f.name for f in dataclasses.fields(cls)]
