"""A tool's arguments and result read back in the key order the agent wrote them: from the database, the
step panel, the compare diff, the JSON export and the step API (traces_step.input / .output are `json`,
which keeps the text as sent; `jsonb` sorted object keys by length, then bytes)."""

from __future__ import annotations

import html
import json

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_run
from tests.otlp import AgentTrace
from tests.traces.conftest import api_get
from traces.ids import span_int
from traces.models import Step

pytestmark = pytest.mark.django_db

# Neither sorted nor by length: jsonb would give order_id, alpha, zeta ... (length, then bytes).
ARGUMENTS = {"zeta": 1, "alpha": 2, "order_id": "ORD-7301", "b": {"yy": True, "x": [{"k2": 1, "k1": 2}]}}
RESULT = {"status": "shipped", "eta": "2 days", "carrier": "DHL"}
TOOL = 3  # AgentTrace spans: root, chat, chat, the tool

# The tool span's attributes in each convention that carries a tool's arguments and result as JSON text.
CONVENTIONS = {
    "otel_genai": {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup_order",
        "gen_ai.tool.call.arguments": json.dumps(ARGUMENTS),
        "gen_ai.tool.call.result": json.dumps(RESULT),
    },
    "vercel_ai": {
        "ai.operationId": "ai.toolCall",
        "ai.toolCall.name": "lookup_order",
        "ai.toolCall.id": "call_1",
        "ai.toolCall.args": json.dumps(ARGUMENTS),
        "ai.toolCall.result": json.dumps(RESULT),
    },
    "openinference": {
        "openinference.span.kind": "TOOL",
        "tool.name": "lookup_order",
        "input.value": json.dumps(ARGUMENTS),
        "input.mime_type": "application/json",
        "output.value": json.dumps(RESULT),
        "output.mime_type": "application/json",
    },
}


def keys_in(text: str, keys) -> list[int]:
    return [text.index(f'"{key}"') for key in keys]


def in_order(text: str, value: dict) -> bool:
    """Every key of `value` (and of its nested objects) appears in `text` after the one before it."""
    positions = keys_in(text, value)
    nested = all(in_order(text, v) for v in value.values() if isinstance(v, dict))
    return positions == sorted(positions) and nested


def tool_run(project, convention: str) -> AgentTrace:
    trace = AgentTrace()
    trace.spans[TOOL].attrs = dict(CONVENTIONS[convention])
    return make_run(project, trace)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_a_tools_arguments_and_result_keep_their_key_order_in_the_database(ingest, convention):
    trace = tool_run(ingest.project, convention)
    step = Step.objects.get(project=ingest.project, span_id=span_int(trace.spans[TOOL].span_id))
    assert json.dumps(step.input) == json.dumps(ARGUMENTS)
    assert json.dumps(step.output) == json.dumps(RESULT)


def test_the_panel_export_api_and_compare_show_the_keys_as_sent(ingest):
    trace = tool_run(ingest.project, "otel_genai")
    span = trace.spans[TOOL].span_id.hex()
    client = Client()
    client.force_login(ingest.engineer)
    slug = ingest.project.slug

    panel = client.get(reverse("run_step_panel", kwargs={"slug": slug, "trace_id": trace.trace_hex, "span_id": span}))
    page = html.unescape(panel.content.decode())
    args = page.split('tool-args"')[1].split("</pre>")[0]
    result = page.split('tool-result"')[1].split("</pre>")[0]
    assert in_order(args, ARGUMENTS) and in_order(result, RESULT), (args, result)

    export = client.get(reverse("run_export", kwargs={"slug": slug, "trace_id": trace.trace_hex})).json()
    (tool,) = [s for s in export["steps"] if s["span_id"] == span]
    assert json.dumps(tool["input"]) == json.dumps(ARGUMENTS)

    step = api_get(client, ingest.step_url(trace.trace_hex, span), ingest)
    assert json.dumps(step["input"]) == json.dumps(ARGUMENTS)
    assert json.dumps(step["output"]) == json.dumps(RESULT)

    other = AgentTrace()
    changed = {**ARGUMENTS, "order_id": "ORD-7302"}
    other.spans[TOOL].attrs = {**CONVENTIONS["otel_genai"], "gen_ai.tool.call.arguments": json.dumps(changed)}
    make_run(ingest.project, other)
    compare = reverse("run_compare", kwargs={"slug": slug}) + f"?a={trace.trace_hex}&b={other.trace_hex}"
    diff = html.unescape(client.get(compare).content.decode()).split('class="payload-diff"')[1].split("</pre>")[0]
    # The changed line with its context (two lines either side) as the agent wrote the arguments.
    assert keys_in(diff, ["alpha", "order_id", "b", "yy"]) == sorted(keys_in(diff, ["alpha", "order_id", "b", "yy"]))


def test_a_step_written_through_the_orm_keeps_its_key_order(ingest):
    """Not only the COPY: an UPDATE from Django (as a test or a repair would write) keeps the order too."""
    trace = tool_run(ingest.project, "otel_genai")
    span_id = span_int(trace.spans[TOOL].span_id)
    Step.objects.filter(project=ingest.project, span_id=span_id).update(output={"z": 1, "a": 2})
    assert list(Step.objects.get(project=ingest.project, span_id=span_id).output) == ["z", "a"]
    # A JSON string that reads as a number is still a string: the column is decoded once (traces.fields).
    Step.objects.filter(project=ingest.project, span_id=span_id).update(output="123")
    assert Step.objects.get(project=ingest.project, span_id=span_id).output == "123"


def test_the_orms_equality_still_compares_the_values_whatever_their_order(ingest):
    """json has no `=`: the field compares as jsonb (traces.fields.JSONBExact), as JSONField did."""
    trace = tool_run(ingest.project, "otel_genai")
    steps = Step.objects.filter(project=ingest.project, span_id=span_int(trace.spans[TOOL].span_id))
    assert steps.filter(input=dict(reversed(ARGUMENTS.items()))).exists()
    assert not steps.filter(input={**ARGUMENTS, "zeta": 2}).exists()
    assert steps.exclude(input=None).exists() and not steps.filter(input=None).exists()
