"""The durable store: run aggregates are the same whatever order, grouping and repetition a trace's spans
arrive in; concurrent batches of the same traces neither fail nor double-count; a span repeated in one
request is stored once.

Batches are decoded from real OTLP protobuf once and then regrouped in process, so each example costs
only the store's own round trips against the real Postgres.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentops.tenancy.models import Project
from tests.factories import make_project
from tests.otlp import NS, SpanSpec, protobuf
from traces.ids import span_int
from traces.ingest.decode import decode_request
from traces.ingest.spans import DecodedBatch, Span
from traces.models import Run, Step
from traces.selectors import load_ingest_config
from traces.services import ingest_batch

# Every column of a run that ingest computes: the whole row but its identity and bookkeeping.
RUN_FIELDS = tuple(f.attname for f in Run._meta.concrete_fields if f.attname not in {"id", "trace_id", "updated_at"})
START = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
RESOURCE = {
    "service.name": "support-bot",
    "service.version": "1.4.2",
    "agentops.bundle.id": "bundle-7",
    "deployment.environment.name": "production",
}
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    database=None,  # no .hypothesis folder in the work tree; failures print their example anyway
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def agent_run_specs(*, with_root: bool = True) -> list[SpanSpec]:
    """An agent run with every kind of aggregate input: a root carrying the run's question, answer and
    summed usage; priced, unpriced and self-costed LLM calls; two tools, one failing; a plain span."""
    root = SpanSpec(
        "invoke_agent support-bot",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-bot",
            "gen_ai.conversation.id": "sess-42",
            "user.id": "user-7",
            "gen_ai.input.messages": _messages("user", "Where is my order?"),
            "gen_ai.output.messages": _messages("assistant", "It shipped yesterday."),
            # Summed over the run by the agent framework: must not be added to the run a second time.
            "gen_ai.usage.input_tokens": 99_999,
            "gen_ai.usage.output_tokens": 9_999,
        },
        span_id=bytes.fromhex("00000000000000a1"),
        start_ns=START,
        end_ns=START + 20 * NS,
    )

    def child(name: str, attrs: dict[str, Any], offset: int, sid: str, error: str | None = None) -> SpanSpec:
        return SpanSpec(
            name,
            attrs,
            span_id=bytes.fromhex(sid),
            parent=root.span_id,
            start_ns=START + offset * NS,
            end_ns=START + (offset + 1) * NS,
            error=error,
        )

    chat = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.conversation.id": "sess-42"}
    children = [
        child(
            "chat gpt-4o",
            {
                **chat,
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100,
                "gen_ai.input.messages": _messages("user", "first question"),
                "gen_ai.output.messages": _messages("assistant", "first answer"),
            },
            1,
            "00000000000000b1",
        ),
        child(
            "chat gpt-4o",
            {
                **chat,
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 150,
                "gen_ai.usage.cache_read.input_tokens": 200,
                "gen_ai.agent.name": "writer",  # a sub-agent: the root's name wins, else the earliest
                "gen_ai.input.messages": _messages("user", "second question"),
                "gen_ai.output.messages": _messages("assistant", "last answer"),
            },
            5,
            "00000000000000b2",
        ),
        child(
            "ChatCompletion",
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.system": "openai",
                "llm.token_count.prompt": 500,
                "llm.token_count.completion": 50,
                "llm.token_count.completion_details.reasoning": 20,
                "llm.cost.total": 0.00042,
                "session.id": "sess-42",
                "agent.name": "researcher",
                "tag.tags": ["vip", "beta"],
            },
            3,
            "00000000000000b3",
        ),
        child(
            "chat acme-llm-1",
            {
                **chat,
                "gen_ai.request.model": "acme-llm-1",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 5,
            },
            7,
            "00000000000000b4",
        ),
        child(
            "execute_tool lookup_order",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order", "gen_ai.tool.call.id": "c1"},
            2,
            "00000000000000c1",
        ),
        child(
            "execute_tool refund",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "refund", "gen_ai.tool.call.id": "c2"},
            4,
            "00000000000000c2",
            error="card declined",
        ),
        child("load memory", {"component": "memory"}, 6, "00000000000000d1"),
    ]
    return [root, *children] if with_root else children


def decoded_spans(specs: Sequence[SpanSpec], resource: dict[str, Any] = RESOURCE) -> list[Span]:
    trace_id = b"\x01" * 16  # replaced per stored copy by with_trace
    batch = decode_request(protobuf([s.build(trace_id) for s in specs], resource), "application/x-protobuf")
    assert not batch.rejections
    return batch.spans


def with_trace(spans: Sequence[Span], trace_id: bytes) -> list[Span]:
    return [dataclasses.replace(s, trace_id=trace_id) for s in spans]


def store(project: Project, *batches: Sequence[Span]) -> None:
    config = load_ingest_config(project.pk)
    for spans in batches:
        ingest_batch(config=config, batch=DecodedBatch(spans=list(spans), rejections=[]))


def run_state(project: Project, trace_id: bytes) -> dict[str, Any]:
    return Run.objects.filter(project=project, trace_id=trace_id.hex()).values(*RUN_FIELDS).get()


def bundle_of(project: Project, trace_id: bytes) -> tuple[str, str]:
    state = run_state(project, trace_id)
    return state["bundle"], state["bundle_source"]


def stored_span_ids(project: Project, trace_id: bytes) -> list[int]:
    return sorted(Step.objects.filter(project=project, trace_id=trace_id.hex()).values_list("span_id", flat=True))


def stored_alone(project: Project, spans: Sequence[Span]) -> dict[str, Any]:
    """The run as stored from one batch holding each span once: the reference every grouping must match."""
    trace_id = os.urandom(16)
    store(project, with_trace(spans, trace_id))
    return run_state(project, trace_id)


@st.composite
def deliveries(draw: st.DrawFn, spans: list[Span]) -> list[list[Span]]:
    """The spans in any order, split into batches at random, some spans and whole batches sent twice."""
    repeated = draw(st.lists(st.sampled_from(spans), max_size=3))
    ordered = draw(st.permutations([*spans, *repeated]))
    cuts = sorted(draw(st.sets(st.integers(1, len(ordered) - 1), max_size=len(ordered) - 1)))
    batches = [ordered[a:b] for a, b in zip([0, *cuts], [*cuts, len(ordered)], strict=True)]
    retried = draw(st.lists(st.sampled_from(batches), max_size=2))
    return draw(st.permutations([*batches, *retried]))


@pytest.fixture
def project(db: None) -> Project:
    return make_project()


def two_services(*, with_root: bool = True) -> list[Span]:
    """The agent run with its tools served by another service, with its own version and environment."""
    specs = agent_run_specs(with_root=with_root)
    agent = {"service.name": "support-bot", "service.version": "1.4.2", "deployment.environment.name": "production"}
    tools = {"service.name": "tools-api", "service.version": "3.1", "deployment.environment.name": "staging"}
    return decoded_spans([s for s in specs if "gen_ai.tool.name" not in s.attrs], agent) + decoded_spans(
        [s for s in specs if "gen_ai.tool.name" in s.attrs], tools
    )


AGENT_RUN = decoded_spans(agent_run_specs())
AGENT_RUN_WITHOUT_ROOT = decoded_spans(agent_run_specs(with_root=False))
TWO_SERVICES = two_services()


# --- what one batch stores ----------------------------------------------------------------------------


def test_one_batch_gives_the_expected_aggregates(project):
    state = stored_alone(project, AGENT_RUN)
    steps = Step.objects.filter(project=project)
    priced_cost = sum(s.cost_usd for s in steps if s.cost_usd is not None)
    assert priced_cost > 0
    assert state | {"cost_usd": None, "resource": None} == {
        "project_id": project.pk,
        "root_span_id": span_int(bytes.fromhex("00000000000000a1")),
        "name": "invoke_agent support-bot",
        "agent": "support-bot",
        "agent_rank": 0,  # named on the root: the best tier, the first position
        "bundle": "bundle-7",
        "bundle_source": "explicit",
        "environment": "production",
        "environment_rank": -1,  # each from the root
        "session_id": "sess-42",
        "session_rank": -1,
        "user_id": "user-7",
        "user_rank": -1,
        "start_time": state["start_time"],
        "end_time": state["end_time"],
        "root_ended": True,
        "step_count": 8,
        "llm_calls": 4,
        "tool_calls": 2,
        "error_count": 1,
        # The root's 99,999 / 9,999 are the sum of its children, reported again: not added.
        "input_tokens": 1000 + 1200 + 500 + 10,
        "output_tokens": 100 + 150 + 50 + 5,
        "cache_read_tokens": 200,
        "cache_write_tokens": 0,
        "reasoning_tokens": 20,
        "cost_usd": None,
        "unpriced_steps": 1,  # acme-llm-1
        "reported_cost_usd": Decimal("0.00042"),
        "tags": ["beta", "vip"],
        "resource": None,
        "resource_rank": -1,
        "models_used": ["acme-llm-1", "gpt-4o", "gpt-4o-mini"],
        "tools_used": ["lookup_order", "refund"],
        "input_preview": "Where is my order?",
        "input_preview_ns": -2,  # the root's messages
        "output_preview": "It shipped yesterday.",
        "output_preview_ns": 9223372036854775807,
    }
    assert state["cost_usd"] == priced_cost
    assert state["resource"]["service.version"] == "1.4.2"
    assert (state["end_time"] - state["start_time"]).total_seconds() == 20


def test_a_run_without_its_root_is_unfinished_and_previews_come_from_llm_calls(project):
    state = stored_alone(project, AGENT_RUN_WITHOUT_ROOT)
    assert state["root_span_id"] is None
    assert state["root_ended"] is False
    assert state["error_count"] == 1  # the failed tool: status error, whatever the root
    assert state["step_count"] == 7
    assert state["session_id"] == "sess-42"
    assert state["agent"] == "researcher"  # named by the earliest step that names one
    assert state["input_preview"] == "first question"  # the earliest LLM input
    assert state["output_preview"] == "last answer"  # the latest LLM output
    assert state["resource"]["service.name"] == "support-bot"


def test_a_run_with_no_error_and_no_root_has_status_unfinished(project):
    trace_id = os.urandom(16)
    store(project, with_trace([s for s in AGENT_RUN_WITHOUT_ROOT if s.status_code != 2], trace_id))
    run = Run.objects.get(project=project, trace_id=trace_id.hex())
    assert run.status == "unfinished"
    assert run.end_time is not None  # the latest child's end, until the root says otherwise


# --- order independence -------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_any_order_grouping_and_repetition_gives_the_run_of_one_batch(project, data):
    spans = data.draw(st.sampled_from([AGENT_RUN, AGENT_RUN_WITHOUT_ROOT, TWO_SERVICES]), label="spans")
    expected = stored_alone(project, spans)
    trace_id = os.urandom(16)
    store(project, *(with_trace(batch, trace_id) for batch in data.draw(deliveries(spans), label="batches")))
    assert run_state(project, trace_id) == expected
    assert stored_span_ids(project, trace_id) == sorted(span_int(s.span_id) for s in spans)


def test_the_root_arriving_last_overrides_what_the_children_said(project):
    expected = stored_alone(project, AGENT_RUN)
    trace_id = os.urandom(16)
    store(project, *([s] for s in with_trace(AGENT_RUN[1:], trace_id)))
    before = run_state(project, trace_id)
    assert (before["root_ended"], before["agent"], before["input_preview"]) == (False, "researcher", "first question")
    store(project, with_trace(AGENT_RUN[:1], trace_id))
    assert run_state(project, trace_id) == expected


def test_the_root_arriving_first_is_not_overridden_by_children(project):
    expected = stored_alone(project, AGENT_RUN)
    trace_id = os.urandom(16)
    store(project, *([s] for s in with_trace(AGENT_RUN, trace_id)))
    assert run_state(project, trace_id) == expected


# --- bundles -----------------------------------------------------------------------------------------


def _derived(models: str, tools: str) -> str:
    return "auto-" + hashlib.md5(f"{models}|{tools}".encode()).hexdigest()[:10]


@pytest.mark.parametrize(
    ("resource", "bundle", "source"),
    [
        (RESOURCE, "bundle-7", "explicit"),
        ({"service.name": "support-bot", "service.version": "1.4.2"}, "1.4.2", "service_version"),
        (
            {"service.name": "support-bot"},
            _derived("acme-llm-1,gpt-4o,gpt-4o-mini", "lookup_order,refund"),
            "derived",
        ),
    ],
)
def test_bundle_precedence(project, resource, bundle, source):
    spans = decoded_spans(agent_run_specs(), resource)
    trace_id = os.urandom(16)
    store(project, *([s] for s in with_trace(spans[::-1], trace_id)))
    state = run_state(project, trace_id)
    assert (state["bundle"], state["bundle_source"]) == (bundle, source)
    assert state == stored_alone(project, spans)


def test_an_explicit_bundle_in_a_later_batch_wins_over_service_version_and_derived(project):
    trace_id = os.urandom(16)
    derived_only = with_trace(decoded_spans(agent_run_specs()[1:2], {"service.name": "a"}), trace_id)
    versioned = with_trace(
        decoded_spans(agent_run_specs()[2:3], {"service.name": "a", "service.version": "9"}), trace_id
    )
    explicit = with_trace(decoded_spans(agent_run_specs()[3:4], RESOURCE), trace_id)
    store(project, derived_only)
    assert bundle_of(project, trace_id) == (_derived("gpt-4o", ""), "derived")
    store(project, versioned)
    assert bundle_of(project, trace_id) == ("9", "service_version")
    store(project, explicit)
    assert bundle_of(project, trace_id) == ("bundle-7", "explicit")
    store(project, derived_only, versioned)  # retries change nothing
    assert bundle_of(project, trace_id) == ("bundle-7", "explicit")


def test_two_services_with_the_same_bundle_source_give_one_bundle_whatever_came_first(project):
    # Both resources carry a service.version: the run's bundle must not depend on which batch came first.
    agent_first, tools_first = os.urandom(16), os.urandom(16)
    tools = [s for s in TWO_SERVICES if s.resource["service.name"] == "tools-api"]
    agent = [s for s in TWO_SERVICES if s.resource["service.name"] == "support-bot"]
    store(project, with_trace(agent, agent_first), with_trace(tools, agent_first))
    store(project, with_trace(tools, tools_first), with_trace(agent, tools_first))
    assert run_state(project, agent_first)["bundle"] == run_state(project, tools_first)["bundle"]


def test_two_services_without_the_root_give_one_environment_whatever_came_first(project):
    spans = two_services(with_root=False)
    agent_first, tools_first = os.urandom(16), os.urandom(16)
    tools = [s for s in spans if s.resource["service.name"] == "tools-api"]
    agent = [s for s in spans if s.resource["service.name"] == "support-bot"]
    store(project, with_trace(agent, agent_first), with_trace(tools, agent_first))
    store(project, with_trace(tools, tools_first), with_trace(agent, tools_first))
    first, second = run_state(project, agent_first), run_state(project, tools_first)
    assert (first["environment"], first["resource"]) == (second["environment"], second["resource"])


def test_a_derived_bundle_follows_the_models_and_tools_as_steps_arrive(project):
    spans = decoded_spans(agent_run_specs(), {"service.name": "support-bot"})
    by_name = {s.span_id.hex(): s for s in spans}
    trace_id = os.urandom(16)
    store(project, with_trace([by_name["00000000000000b1"]], trace_id))
    assert run_state(project, trace_id)["bundle"] == _derived("gpt-4o", "")
    store(project, with_trace([by_name["00000000000000c1"]], trace_id))
    assert run_state(project, trace_id)["bundle"] == _derived("gpt-4o", "lookup_order")
    store(project, with_trace(spans, trace_id))
    assert run_state(project, trace_id)["bundle"] == _derived("acme-llm-1,gpt-4o,gpt-4o-mini", "lookup_order,refund")


# --- duplicates in one request -----------------------------------------------------------------------


def test_the_same_span_twice_in_one_request_is_stored_and_counted_once(project):
    trace_id = os.urandom(16)
    spans = with_trace(AGENT_RUN, trace_id)
    config = load_ingest_config(project.pk)
    result = ingest_batch(config=config, batch=DecodedBatch(spans=[*spans, spans[1], spans[1]], rejections=[]))
    assert (result.received, result.stored, result.runs) == (10, 8, 1)
    state = run_state(project, trace_id)
    assert (state["step_count"], state["llm_calls"], state["input_tokens"]) == (8, 4, 2710)
    assert stored_span_ids(project, trace_id) == sorted(span_int(s.span_id) for s in spans)


def test_a_retried_request_stores_nothing_and_changes_no_aggregate(project):
    trace_id = os.urandom(16)
    spans = with_trace(AGENT_RUN, trace_id)
    config = load_ingest_config(project.pk)
    ingest_batch(config=config, batch=DecodedBatch(spans=spans, rejections=[]))
    first = run_state(project, trace_id)
    again = ingest_batch(config=config, batch=DecodedBatch(spans=spans, rejections=[]))
    assert (again.stored, again.runs) == (0, 0)
    assert run_state(project, trace_id) == first


# --- concurrency -------------------------------------------------------------------------------------

THREADS = 4
ROUNDS = 6  # each round races fresh traces: lock-order bugs show up in some interleavings only


@pytest.fixture
def committed_project(transactional_db: None) -> Project:
    # Each thread commits on its own connection; tests/conftest.py empties the steps table afterwards.
    return make_project()


def race(project: Project, plans: list[list[list[Span]]]) -> list[BaseException]:
    """Store each plan in its own thread (its own connection), all starting together; the errors."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(plans))

    def worker(plan: list[list[Span]]) -> None:
        try:
            barrier.wait()
            store(project, *plan)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(plan,)) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def shifted(spans: Sequence[Span], months: int) -> list[Span]:
    """The spans moved `months` x 31 days later: into a month whose partition may not exist yet."""
    delta = months * 31 * 86_400 * NS
    return [
        dataclasses.replace(
            s, start_time_unix_nano=s.start_time_unix_nano + delta, end_time_unix_nano=s.end_time_unix_nano + delta
        )
        for s in spans
    ]


@pytest.mark.parametrize("bundle", ["explicit", "derived"])
def test_concurrent_overlapping_batches_of_the_same_traces(committed_project, bundle):
    project = committed_project
    spans = AGENT_RUN if bundle == "explicit" else decoded_spans(agent_run_specs(), {"service.name": "support-bot"})
    rng = random.Random(7)
    for round_ in range(ROUNDS):
        # Rounds alternate between this month and a new one, whose partition every thread wants to create.
        months = 0 if round_ % 2 else 12 * 20 + round_
        spans_now = shifted(spans, months)
        trace_ids = [os.urandom(16) for _ in range(3)]
        everything = [s for t in trace_ids for s in with_trace(spans_now, t)]
        # Each thread sends every span of every trace (so all of them collide), in its own order and
        # grouping, batches mixing traces as exporters do.
        plans = []
        for _ in range(THREADS):
            shuffled = rng.sample(everything, len(everything))
            plans.append([shuffled[i : i + 8] for i in range(0, len(shuffled), 8)])
        assert race(project, plans) == []
        expected = stored_alone(project, spans_now)
        for trace_id in trace_ids:
            assert stored_span_ids(project, trace_id) == sorted(span_int(s.span_id) for s in spans)
            assert run_state(project, trace_id) == expected
        assert expected["bundle_source"] == bundle


def inserted_in_order(project: Project) -> list[tuple[str, int]]:
    # Steps take their ids from a sequence as they are inserted: id order is insertion order.
    return [
        (t.hex, s) for t, s in Step.objects.filter(project=project).order_by("id").values_list("trace_id", "span_id")
    ]


@pytest.mark.parametrize("stored_before", [0, 5], ids=["all new: COPY", "some stored: stage + INSERT"])
def test_a_batch_is_inserted_in_key_order_whatever_order_it_came_in(project, stored_before):
    # Concurrent batches must take their row locks in one order. Both ways in do: the COPY of a new
    # batch, and the stage + INSERT ... ON CONFLICT of a batch holding steps stored already (a retry).
    trace_ids = [os.urandom(16) for _ in range(3)]
    spans = random.Random(3).sample([s for t in trace_ids for s in with_trace(AGENT_RUN, t)], 3 * len(AGENT_RUN))
    store(project, spans[:stored_before])
    store(project, spans)
    new = inserted_in_order(project)[stored_before:]
    assert len(new) == len(spans) - stored_before
    assert new == sorted(new)


def staged_in_this_transaction() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_xact_user_tables WHERE relname = 'step_stage'")
        return int(cursor.fetchone()[0])


def test_a_new_batch_goes_straight_into_the_table_and_only_a_retry_through_the_stage(project):
    # The COPY into traces_step is what makes ingest cheap (bench/ingest.py); the stage is the way of
    # batches holding a stored step. Were every batch to fail over to it, every other test would pass.
    trace_id = os.urandom(16)
    store(project, with_trace(AGENT_RUN[:5], trace_id))
    assert staged_in_this_transaction() == 0
    store(project, with_trace(AGENT_RUN, trace_id))  # 5 stored already, 3 new
    assert staged_in_this_transaction() == len(AGENT_RUN)
    assert stored_span_ids(project, trace_id) == sorted(span_int(s.span_id) for s in AGENT_RUN)


def test_the_same_span_with_starts_in_the_same_microsecond_is_counted_once(project):
    # Postgres keeps microseconds: two copies of a span whose starts differ by nanoseconds are one row.
    trace_id = os.urandom(16)
    spans = with_trace(AGENT_RUN, trace_id)
    llm = spans[1]
    nudged = dataclasses.replace(llm, start_time_unix_nano=llm.start_time_unix_nano + 500)
    result = ingest_batch(
        config=load_ingest_config(project.pk), batch=DecodedBatch(spans=[*spans, nudged], rejections=[])
    )
    assert result.stored == 8
    state = run_state(project, trace_id)
    assert (state["step_count"], state["llm_calls"], state["input_tokens"]) == (8, 4, 2710)
