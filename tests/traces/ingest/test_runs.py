"""A batch's run aggregates (traces.ingest.runs), pure: one row per run, the same whatever order the
batch's steps come in. How batches merge into a stored run is tests/traces/ingest/test_store.py's part."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.otlp import NS, SpanSpec, protobuf
from traces.ingest import previews
from traces.ingest.columns import RUN_COLUMNS, RUN_ITEM_LIMIT, RUN_TEXT_LIMITS
from traces.ingest.decode import decode_request
from traces.ingest.normalize import normalize_batch
from traces.ingest.redact import RedactionPolicy
from traces.ingest.rows import ProjectConfig, stage, timestamp_text
from traces.ingest.runs import run_rows

START = 1_767_225_600 * NS  # 2026-01-01
CONFIG = ProjectConfig(project_id=7, redaction=RedactionPolicy())
RESOURCE = {"service.name": "bot-svc", "deployment.environment.name": "prod"}  # no version: no bundle
ROOT_ID, LLM_ID = bytes.fromhex("00000000000000a1"), bytes.fromhex("00000000000000b1")


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def specs(*, with_root: bool = True) -> list[SpanSpec]:
    root = SpanSpec(
        "invoke_agent bot",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "bot",
            "gen_ai.input.messages": _messages("user", "the question"),
            "gen_ai.usage.input_tokens": 5000,  # the children's sum, reported again
        },
        span_id=ROOT_ID,
        start_ns=START,
        end_ns=START + 9 * NS,
    )
    chat = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}
    children = [
        SpanSpec(
            "chat gpt-4o",
            {
                **chat,
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100,
                "gen_ai.agent.name": "writer",
                "gen_ai.conversation.id": "s-1",
                "gen_ai.output.messages": _messages("assistant", "early answer"),
            },
            span_id=LLM_ID,
            parent=ROOT_ID,
            start_ns=START + NS,
            end_ns=START + 2 * NS,
        ),
        SpanSpec(
            "chat Zeta-1",
            {
                **chat,
                "gen_ai.request.model": "Zeta-1",  # no price: unpriced
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 1,
                "gen_ai.conversation.id": "s-2",
                "gen_ai.output.messages": _messages("assistant", "late answer"),
            },
            parent=ROOT_ID,
            start_ns=START + 3 * NS,
            end_ns=START + 4 * NS,
        ),
        SpanSpec(
            "execute_tool lookup",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
            parent=ROOT_ID,
            start_ns=START + 5 * NS,
            end_ns=START + 12 * NS,  # ends after the root
            error="not found",
        ),
    ]
    return [root, *children] if with_root else children


def staged_rows(trace_id: bytes, *, with_root: bool = True) -> list[list[Any]]:
    spans = [s.build(trace_id) for s in specs(with_root=with_root)]
    batch = decode_request(protobuf(spans, RESOURCE), "application/x-protobuf")
    staged = stage(normalize_batch(batch.spans), CONFIG)
    assert not staged.rejected
    return staged.rows


def as_dict(row: list[Any]) -> dict[str, Any]:
    return dict(zip(RUN_COLUMNS, row, strict=True))


def test_one_row_per_run_in_project_and_trace_order():
    first, second = b"\x01" * 16, b"\x02" * 16
    rows = staged_rows(second) + staged_rows(first, with_root=False)
    runs = [as_dict(r) for r in run_rows(rows)]
    assert [(r["project_id"], r["trace_id"]) for r in runs] == [(7, first.hex()), (7, second.hex())]
    assert [r["step_count"] for r in runs] == [3, 4]


def test_a_run_with_its_root():
    (row,) = run_rows(staged_rows(b"\x03" * 16))
    run = as_dict(row)
    cost = run.pop("cost_usd")
    assert isinstance(cost, Decimal) and cost > 0
    assert run == {
        "project_id": 7,
        "trace_id": (b"\x03" * 16).hex(),
        "root_span_id": int.from_bytes(ROOT_ID, "big"),
        "name": "invoke_agent bot",
        "agent": "bot",  # the root's, not the earlier-ranked sub-agent's
        "agent_rank": 0,  # named on the root: the best tier, the first position
        "bundle": "",
        "bundle_source": "",
        "environment": "prod",
        "environment_rank": -1,  # the root's resource
        "session_id": "s-1",  # the earliest step that has one
        "session_rank": START + NS,
        "user_id": "",
        "user_rank": None,
        "start_time": timestamp_text(START),
        "end_time": timestamp_text(START + 12 * NS),  # the latest end, the tool's
        "root_ended": True,
        "step_count": 4,
        "llm_calls": 2,
        "tool_calls": 1,
        "error_count": 1,
        "input_tokens": 1010,  # not the root's 5,000: a sum of its children
        "output_tokens": 101,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "unpriced_steps": 1,
        "reported_cost_usd": None,
        "models_used": ["Zeta-1", "gpt-4o"],  # codepoint order, as the store's merge sorts
        "tools_used": ["lookup"],
        "input_preview": "the question",
        "input_preview_ns": previews.ROOT_MESSAGES_INPUT,
        "output_preview": "late answer",  # the root has none: the latest LLM output
        "output_preview_ns": START + 3 * NS,
        "tags": [],
        "resource": json.dumps(RESOURCE, separators=(",", ":")),
        "resource_rank": -1,
    }


def test_a_run_without_its_root_is_named_by_its_steps():
    run = as_dict(run_rows(staged_rows(b"\x04" * 16, with_root=False))[0])
    assert (run["root_span_id"], run["name"], run["root_ended"]) == (None, "", False)
    # A chat span naming its agent: tier 2 (a step that is not an agent span), ranked by its start.
    assert (run["agent"], run["agent_rank"]) == ("writer", 2 << 52 | (START + NS) // 1000 + 1)
    assert (run["input_preview"], run["input_preview_ns"]) == ("", None)


ROWS = staged_rows(b"\x05" * 16) + staged_rows(b"\x06" * 16, with_root=False)


@given(st.permutations(ROWS))
def test_the_rows_order_changes_nothing(rows):
    assert run_rows(rows) == run_rows(ROWS)


def test_the_limits_runs_cut_to_are_the_run_columns():
    from traces.models import Run

    fields: dict[str, Any] = {field.name: field for field in Run._meta.get_fields()}
    assert {name: fields[name].max_length for name in RUN_TEXT_LIMITS} == RUN_TEXT_LIMITS
    for name in ("models_used", "tools_used", "tags"):
        assert fields[name].base_field.max_length == RUN_ITEM_LIMIT
