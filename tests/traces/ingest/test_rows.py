"""Staging (traces.ingest.rows): a span that cannot be stored is rejected alone with a reason, text
Postgres cannot hold is cleaned rather than failing the batch, duplicates are staged once, and the
run context (previews, bundle ranks, resource) each step contributes.

The first part is pure (stage() needs no database); the last part stores through ingest_batch and
reads back from the real Postgres, because "stored without failing" is only proven by storing.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import make_project
from tests.otlp import NS, SpanSpec, otlp_json, protobuf
from traces.ingest.columns import STAGE_COLUMNS
from traces.ingest.decode import decode_request
from traces.ingest.normalize import normalize_batch
from traces.ingest.previews import PREVIEW_CHARS
from traces.ingest.redact import BUILTIN_RULES, RedactionPolicy
from traces.ingest.rows import ProjectConfig, Staged, stage, timestamp_text
from traces.ingest.steps import Step
from traces.models import Run
from traces.models import Step as StoredStep
from traces.selectors import load_ingest_config
from traces.services import ingest_batch

START = 1_767_225_600 * NS  # 2026-01-01
COLUMN = {name: i for i, name in enumerate(STAGE_COLUMNS)}
CONFIG = ProjectConfig(project_id=1, redaction=RedactionPolicy(builtin=BUILTIN_RULES))
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}


def steps_of(*specs: SpanSpec, resource: dict[str, Any] | None = None, trace_id: bytes = b"\x07" * 16) -> list[Step]:
    batch = decode_request(protobuf([s.build(trace_id) for s in specs], resource), "application/x-protobuf")
    assert not batch.rejections
    return normalize_batch(batch.spans)


def span(name: str = "work", attrs: dict[str, Any] | None = None, offset: int = 0, **kw: Any) -> SpanSpec:
    return SpanSpec(name, attrs or {"x": 1}, start_ns=START + offset * NS, end_ns=START + (offset + 1) * NS, **kw)


def ns_to_datetime(ns: int) -> datetime:
    """The instant to the microsecond, as Postgres keeps it."""
    return datetime.fromtimestamp(ns // NS, UTC).replace(microsecond=ns % NS // 1000)


def col(staged: Staged, name: str, row: int = 0) -> Any:
    return staged.rows[row][COLUMN[name]]


# --- per-span rejection ------------------------------------------------------------------------------


def test_a_timestamp_past_what_a_step_holds_rejects_that_span_alone():
    # Starts are kept as nanoseconds in bigint columns too: they end on 2262-04-11 (OTLP's uint64, in 2554).
    good, late = steps_of(span("good"), span("late", offset=1))
    staged = stage([good, dataclasses.replace(late, start_ns=1 << 63, end_ns=None)], CONFIG)
    assert [col(staged, "name", i) for i in range(len(staged.rows))] == ["good"]
    assert staged.rejected == [f"span {late.span_id}: timestamps after 2262-04-11 cannot be stored"]
    assert staged.start_ns == [good.start_ns]


@pytest.mark.parametrize("year", [2554, 10_000])
def test_a_start_in_a_far_year_is_rejected(year):
    (step,) = steps_of(span())
    staged = stage([dataclasses.replace(step, start_ns=(year - 1970) * 366 * 86_400 * NS, end_ns=None)], CONFIG)
    assert staged.rows == []
    assert "after 2262-04-11" in staged.rejected[0]


def test_an_end_past_what_a_step_holds_rejects_the_span_too():
    (step,) = steps_of(span())
    staged = stage([dataclasses.replace(step, end_ns=1 << 63)], CONFIG)
    assert staged.rows == []
    assert "after 2262-04-11" in staged.rejected[0]


def test_a_span_without_a_start_is_rejected():
    (step,) = steps_of(span())
    staged = stage([dataclasses.replace(step, start_ns=0)], CONFIG)
    assert staged.rows == []
    assert staged.rejected == [f"span {step.span_id}: startTimeUnixNano is required"]


@pytest.mark.parametrize(
    ("attrs", "problem"),
    [
        ({**CHAT, "gen_ai.usage.input_tokens": "100000000000000000000000"}, "token count"),
        ({**CHAT, "gen_ai.usage.input_tokens": 1e30}, "token count"),
        ({**CHAT, "gen_ai.usage.output_tokens": 2**63 - 1}, "token count"),
        ({**CHAT, "gen_ai.usage.input_tokens": -5, "gen_ai.usage.output_tokens": 3}, "token count"),
        ({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.cost.total": 1e15}, "cost"),
    ],
    ids=["beyond-bigint-string", "beyond-bigint-float", "int64-max", "negative", "reported-cost"],
)
def test_numbers_a_step_cannot_hold_reject_that_span_alone(attrs, problem):
    good, bad = steps_of(span("good"), span("chat gpt-4o", attrs, offset=1))
    staged = stage([good, bad], CONFIG)
    assert [col(staged, "name", i) for i in range(len(staged.rows))] == ["good"]
    (reason,) = staged.rejected
    assert reason.startswith(f"span {bad.span_id}: ") and problem in reason


def test_large_but_real_numbers_are_staged():
    (step,) = steps_of(
        span(
            "chat gpt-4o",
            {
                **CHAT,
                "gen_ai.usage.input_tokens": 2_000_000,
                "gen_ai.usage.output_tokens": 100_000,
                "llm.cost.total": 900,
            },
        )
    )
    staged = stage([step], CONFIG)
    assert staged.rejected == []
    assert col(staged, "input_tokens") == 2_000_000
    assert col(staged, "priced") is True


# --- duplicates ---------------------------------------------------------------------------------------


def test_the_same_span_twice_in_a_request_is_staged_once():
    first, second = steps_of(span("a"), span("b", offset=1))
    staged = stage([first, second, first, second, first], CONFIG)
    assert [col(staged, "name", i) for i in range(len(staged.rows))] == ["a", "b"]
    assert staged.rejected == []


def test_the_same_span_id_in_another_trace_is_another_step():
    (a,) = steps_of(span("a"), trace_id=b"\x01" * 16)
    (b,) = steps_of(span("a"), trace_id=b"\x02" * 16)
    assert len(stage([a, dataclasses.replace(b, span_id=a.span_id)], CONFIG).rows) == 2


# --- text Postgres cannot hold ------------------------------------------------------------------------


def nul_span() -> SpanSpec:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "hello\x00world"}]}]
    return span(
        "chat\x00gpt-4o",
        {
            **CHAT,
            "gen_ai.request.model": "gpt\x00-4o",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 2,
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.conversation.id": "sess\x00ion",
            "custom\x00key": "value\x00here",
            "error.type": "Time\x00out",
        },
        error="boom\x00!",
    )


def test_nul_characters_are_removed_from_every_text_and_json_column():
    (step,) = steps_of(nul_span(), resource={"service.name": "bot\x00", "service.version": "1\x00"})
    staged = stage([step], CONFIG)
    assert staged.rejected == []
    (row,) = staged.rows
    for name, value in zip(STAGE_COLUMNS, row, strict=True):
        assert not (isinstance(value, str) and "\x00" in value), name
        if name in ("input", "output", "attributes", "events", "context", "resource") and value is not None:
            assert "\\u0000" not in value, name
    assert col(staged, "name") == "chatgpt-4o"
    assert col(staged, "model") == "gpt-4o"
    assert col(staged, "session_id") == "session"
    assert json.loads(col(staged, "attributes"))["customkey"] == "valuehere"


# --- run context --------------------------------------------------------------------------------------


def test_previews_come_from_the_root_and_llm_steps_only_and_are_cut_to_length():
    long_question = "word " * 200
    llm_input = [{"role": "system", "parts": [{"type": "text", "content": "be brief"}]}]
    llm_input.append({"role": "user", "parts": [{"type": "text", "content": long_question}]})
    llm_output = [{"role": "assistant", "parts": [{"type": "text", "content": "short answer"}]}]
    root = span("invoke_agent a", {"gen_ai.operation.name": "invoke_agent"})
    llm = span(
        "chat gpt-4o",
        {**CHAT, "gen_ai.input.messages": json.dumps(llm_input), "gen_ai.output.messages": json.dumps(llm_output)},
        offset=1,
        parent=root.span_id,
    )
    tool = span(
        "execute_tool t",
        {"gen_ai.tool.name": "t", "gen_ai.tool.call.arguments": '{"q": "tool input"}'},
        offset=2,
        parent=root.span_id,
    )
    staged = stage(steps_of(root, llm, tool), CONFIG)
    previews = {
        col(staged, "name", i): (col(staged, "input_preview", i), col(staged, "output_preview", i)) for i in range(3)
    }
    assert previews["invoke_agent a"] == ("", "")  # the root sent no content
    question, answer = previews["chat gpt-4o"]
    assert answer == "short answer"
    assert len(question) == PREVIEW_CHARS and question.endswith("…") and question.startswith("word word")
    assert previews["execute_tool t"] == ("", "")
    assert [col(staged, "is_root", i) for i in range(3)] == [True, False, False]
    # The root's values win for the run, then the earliest step's: the rank says which.
    assert [col(staged, "rank", i) for i in range(3)] == [-1, staged.start_ns[1], staged.start_ns[2]]


def _chat(question: str, answer: str, offset: int) -> SpanSpec:
    asked = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
    answered = [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
    messages = {"gen_ai.input.messages": json.dumps(asked), "gen_ai.output.messages": json.dumps(answered)}
    return span(f"chat {offset}", {**CHAT, **messages}, offset=offset)


def test_only_the_previews_that_can_win_the_run_are_made():
    # Without the root, the run shows the earliest LLM input and the latest LLM output (store.py merges
    # batches by these ranks): the other steps of the trace carry no preview.
    specs = [_chat("", "", 0), _chat("first question", "first answer", 1), _chat("last question", "", 2)]
    staged = stage(steps_of(*specs), CONFIG)
    previews = [(col(staged, "input_preview", i), col(staged, "output_preview", i)) for i in range(3)]
    # Empty previews are skipped: the next candidate in rank order gives the run its preview.
    assert previews == [("", ""), ("first question", "first answer"), ("", "")]
    # Each trace of a batch picks its own.
    other = steps_of(_chat("other question", "other answer", 5), trace_id=b"\x08" * 16)
    staged = stage([*steps_of(*specs), *other], CONFIG)
    assert (col(staged, "input_preview", 3), col(staged, "output_preview", 3)) == ("other question", "other answer")


def test_previews_are_redacted():
    messages = [{"role": "user", "parts": [{"type": "text", "content": "mail me at ann@example.com"}]}]
    (step,) = steps_of(span("chat gpt-4o", {**CHAT, "gen_ai.input.messages": json.dumps(messages)}))
    staged = stage([step], CONFIG)
    assert col(staged, "input_preview") == "mail me at [REDACTED:email]"


@pytest.mark.parametrize(
    ("resource", "bundle", "rank"),
    [
        ({"service.name": "s", "service.version": "2.0", "agentops.bundle.id": "b-1"}, "b-1", 1),
        ({"service.name": "s", "service.version": "2.0"}, "2.0", 2),
        ({"service.name": "s"}, "", 9),
    ],
)
def test_bundle_candidates_and_their_rank(resource, bundle, rank):
    staged = stage(steps_of(span(), resource=resource), CONFIG)
    assert (col(staged, "bundle"), col(staged, "bundle_rank")) == (bundle, rank)


def test_a_spans_own_bundle_id_wins_over_the_resources():
    # One process, one resource, several bundles: an in-process eval tags each attempt's root span.
    resource = {"service.name": "s", "service.version": "2.0", "agentops.bundle.id": "process-bundle"}
    staged = stage(steps_of(span(attrs={"agentops.bundle.id": "candidate-7"}), resource=resource), CONFIG)
    assert (col(staged, "bundle"), col(staged, "bundle_rank")) == ("candidate-7", 1)


def test_the_resource_goes_with_the_best_ranked_step_of_each_trace_whatever_the_order():
    root = span("root")
    children = [span(f"child {i}", offset=i, parent=root.span_id) for i in (1, 2)]
    for order in (children, children[::-1]):
        staged = stage(steps_of(*order, resource={"service.name": "svc"}), CONFIG)
        resources = {col(staged, "name", i): col(staged, "resource", i) for i in range(2)}
        assert json.loads(resources["child 1"]) == {"service.name": "svc"}  # the earliest
        assert resources["child 2"] is None
    staged = stage(steps_of(*children, root, resource={"service.name": "svc"}), CONFIG)
    resources = {col(staged, "name", i): col(staged, "resource", i) for i in range(3)}
    assert json.loads(resources["root"]) == {"service.name": "svc"}
    assert resources["child 1"] is resources["child 2"] is None


def test_two_resources_of_one_rank_are_chosen_whatever_the_order():
    roots = [span("root a"), span("root b")]  # two roots starting together: one rank
    steps = [*steps_of(roots[0], resource={"service.name": "b"}), *steps_of(roots[1], resource={"service.name": "a"})]
    for order in (steps, steps[::-1]):
        staged = stage(order, CONFIG)
        chosen = [json.loads(r) for i in range(2) if (r := col(staged, "resource", i)) is not None]
        assert chosen == [{"service.name": "a"}]


# --- stored for real ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_nul_characters_are_stored_without_failing_the_batch():
    project = make_project()
    trace_id = os.urandom(16)
    body = protobuf([nul_span().build(trace_id), span("plain", offset=1).build(trace_id)])
    result = ingest_batch(config=load_ingest_config(project.pk), batch=decode_request(body, "application/x-protobuf"))
    assert (result.stored, result.rejected) == (2, [])
    step = StoredStep.objects.get(project=project, trace_id=trace_id.hex(), name="chatgpt-4o")
    assert (step.model, step.error_type, step.error_message) == ("gpt-4o", "Timeout", "boom!")
    assert step.input == [{"role": "user", "parts": [{"type": "text", "content": "helloworld"}]}]
    assert step.attributes["customkey"] == "valuehere"
    assert Run.objects.get(project=project, trace_id=trace_id.hex()).session_id == "session"


@pytest.mark.django_db
def test_lone_surrogates_in_otlp_json_are_stored_without_failing_the_batch():
    # JSON can escape half of a UTF-16 pair ("\ud800"); protobuf cannot carry it (strings are UTF-8).
    project = make_project()
    trace_id = os.urandom(16)
    document = json.loads(otlp_json([span("good").build(trace_id), span("bad", {"k": "v"}, offset=1).build(trace_id)]))
    bad = document["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    bad["name"] = "half \ud800 pair"
    bad["attributes"] = [{"key": "note\udfff", "value": {"stringValue": "x \udbff y"}}]
    body = json.dumps(document).encode()  # ensure_ascii: written as \ud800 escapes, as senders do
    assert b"\\ud800" in body
    result = ingest_batch(config=load_ingest_config(project.pk), batch=decode_request(body, "application/json"))
    assert (result.stored, result.rejected) == (2, [])
    names = set(StoredStep.objects.filter(project=project).values_list("name", flat=True))
    assert names == {"good", "half \ufffd pair"}
    stored = StoredStep.objects.get(project=project, name="half \ufffd pair")
    assert stored.attributes == {"note\ufffd": "x \ufffd y"}


@pytest.mark.django_db
def test_a_span_with_numbers_out_of_range_is_rejected_and_the_batch_stored():
    project = make_project()
    trace_id = os.urandom(16)
    bad = span("chat gpt-4o", {**CHAT, "gen_ai.usage.input_tokens": 2**63 - 1, "gen_ai.usage.output_tokens": 1})
    body = protobuf([span("good", offset=1).build(trace_id), bad.build(trace_id)])
    result = ingest_batch(config=load_ingest_config(project.pk), batch=decode_request(body, "application/x-protobuf"))
    assert result.stored == 1
    assert len(result.rejected) == 1 and "token count" in result.rejected[0]
    run = Run.objects.get(project=project, trace_id=trace_id.hex())
    assert (run.step_count, run.input_tokens) == (1, 0)


@pytest.mark.django_db
def test_the_latest_times_otlp_can_express_are_rejected_alone_and_the_last_storable_one_is_stored():
    project = make_project()
    trace_id = os.urandom(16)
    last_otlp = (1 << 64) - 1  # July 2554
    last_kept = (1 << 63) - 1  # April 2262
    specs = [
        SpanSpec("2554", {"x": 1}, start_ns=last_otlp - NS, end_ns=last_otlp),
        SpanSpec("2262", {"x": 1}, start_ns=last_kept - NS, end_ns=last_kept),
    ]
    body = protobuf([s.build(trace_id) for s in specs])
    result = ingest_batch(config=load_ingest_config(project.pk), batch=decode_request(body, "application/x-protobuf"))
    assert result.stored == 1
    assert len(result.rejected) == 1 and "after 2262-04-11" in result.rejected[0]
    run = Run.objects.get(project=project, trace_id=trace_id.hex())
    assert (run.name, run.start_time.year, run.step_count) == ("2262", 2262, 1)
    # Times are sent as text, exact to the microsecond even at the far end.
    step = StoredStep.objects.get(project=project, trace_id=trace_id.hex())
    assert (step.start_time, step.end_time) == (ns_to_datetime(last_kept - NS), ns_to_datetime(last_kept))
    assert step.duration_ns == NS


@pytest.mark.django_db
def test_times_are_stored_to_the_microsecond():
    project = make_project()
    trace_id = os.urandom(16)
    start = 1_763_000_000_123_456_789
    body = protobuf([SpanSpec("t", {"x": 1}, start_ns=start, end_ns=start + 1_999).build(trace_id)])
    ingest_batch(config=load_ingest_config(project.pk), batch=decode_request(body, "application/x-protobuf"))
    step = StoredStep.objects.get(project=project, trace_id=trace_id.hex())
    assert step.start_time == datetime(2025, 11, 13, 2, 13, 20, 123456, tzinfo=UTC)
    assert step.end_time == datetime(2025, 11, 13, 2, 13, 20, 123458, tzinfo=UTC)
    assert step.duration_ns == 1_999


@given(st.integers(1, (1 << 63) - 1))
def test_timestamp_text_is_the_instant_to_the_microsecond(ns):
    assert datetime.fromisoformat(timestamp_text(ns)) == ns_to_datetime(ns)


def test_stage_of_nothing_is_empty():
    assert stage([], CONFIG) == Staged(rows=[], start_ns=[], rejected=[])


def test_costs_are_decimals():
    (step,) = steps_of(
        span("chat gpt-4o", {**CHAT, "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 10})
    )
    cost = col(stage([step], CONFIG), "cost_usd")
    assert isinstance(cost, Decimal) and cost > 0
