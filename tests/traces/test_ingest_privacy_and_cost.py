"""What ingest keeps of a span and what it costs, per project, checked in what Postgres stored.

Privacy: a project with no ingest policy redacts e-mail addresses, card numbers and API keys in inputs,
outputs, attributes, events and previews; custom patterns apply; drop_content stores no content at all.
Cost: a project's price override prices a custom model, an unknown model is unpriced (and the run says
its cost is incomplete), and a cost the instrumentation reported is kept beside ours.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

import pytest

from agentops.tenancy.models import Project
from tests.factories import make_project
from tests.otlp import NS, SpanSpec, attributes, request
from traces.ingest.decode import decode_request
from traces.models import IngestPolicy, PriceOverride, Run, Step
from traces.selectors import load_ingest_config
from traces.services import ingest_batch

pytestmark = pytest.mark.django_db

START = 1_767_225_600 * NS  # 2026-01-01
EMAIL = "ann.lee@example.com"
CARD = "4111 1111 1111 1111"
API_KEY = "sk-proj-Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789"
ORDER = "ORD-884213"
SECRETS = (EMAIL, CARD, API_KEY, "4111111111111111")


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def sensitive_run(trace_id: bytes) -> list[Any]:
    """A root and an LLM call whose prompt, answer, attributes, events and error carry personal data."""
    root = SpanSpec(
        "invoke_agent support-bot",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-bot",
            "gen_ai.input.messages": _messages("user", f"I am {EMAIL}, card {CARD}, order {ORDER}"),
            "gen_ai.output.messages": _messages("assistant", f"Refund sent to {EMAIL}"),
        },
        start_ns=START,
        end_ns=START + 5 * NS,
    )
    llm = SpanSpec(
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": f"Use key {API_KEY}"}]),
            "gen_ai.input.messages": _messages("user", f"card {CARD} of {EMAIL}"),
            "gen_ai.output.messages": _messages("assistant", f"Mail {EMAIL} about {ORDER}"),
            "customer.note": f"VIP, reach at {EMAIL}",
            "customer.tier": "gold",
            "http.request.header.authorization": f"Bearer {API_KEY}",
        },
        parent=root.span_id,
        start_ns=START + NS,
        end_ns=START + 2 * NS,
        error=f"upstream rejected key {API_KEY}",
    )
    built = [root.build(trace_id), llm.build(trace_id)]
    built[1].events.add(
        name="gen_ai.user.message",
        time_unix_nano=START + NS,
        attributes=attributes({"content": f"my card is {CARD}", "gen_ai.event.content": f"from {EMAIL}"}),
    )
    return built


def first_text(messages: Any) -> str:
    return messages[0]["parts"][0]["content"]


def ingest(project: Project, spans: list[Any], resource: dict[str, Any] | None = None) -> None:
    body = request(spans, resource).SerializeToString()
    result = ingest_batch(config=load_ingest_config(project.pk), batch=decode_request(body, "application/x-protobuf"))
    assert result.rejected == [] and result.stored == len(spans)


def stored(project: Project, trace_id: bytes) -> tuple[Run, dict[str, Step]]:
    run = Run.objects.get(project=project, trace_id=trace_id.hex())
    steps = {s.name: s for s in Step.objects.filter(project=project, trace_id=trace_id.hex())}
    return run, steps


def everything_stored(run: Run, steps: dict[str, Step]) -> str:
    """Every stored text a secret could hide in: payloads, attributes, events, errors, previews."""
    parts: list[Any] = [run.input_preview, run.output_preview, run.resource, run.name]
    for s in steps.values():
        parts += [s.input, s.output, s.attributes, s.events, s.error_message, s.error_type, s.context, s.name]
    return json.dumps(parts, ensure_ascii=False)


# --- privacy ------------------------------------------------------------------------------------------


def test_a_project_without_a_policy_redacts_emails_cards_and_api_keys_everywhere():
    project = make_project()
    assert not IngestPolicy.objects.filter(project=project).exists()
    trace_id = os.urandom(16)
    ingest(project, sensitive_run(trace_id))
    run, steps = stored(project, trace_id)
    text = everything_stored(run, steps)
    for secret in SECRETS:
        assert secret not in text, secret
    llm = steps["chat gpt-4o"]
    assert json.dumps(llm.input) == json.dumps(
        [
            {"role": "system", "parts": [{"type": "text", "content": "Use key [REDACTED:api_key]"}]},
            {"role": "user", "parts": [{"type": "text", "content": "card [REDACTED:card] of [REDACTED:email]"}]},
        ]
    )
    assert first_text(llm.output) == f"Mail [REDACTED:email] about {ORDER}"  # order ids stay
    assert llm.attributes["customer.note"] == "VIP, reach at [REDACTED:email]"
    assert llm.attributes["http.request.header.authorization"] == "Bearer [REDACTED:api_key]"
    assert llm.attributes["customer.tier"] == "gold"
    (event,) = llm.events
    assert event["attributes"] == {
        "content": "my card is [REDACTED:card]",
        "gen_ai.event.content": "from [REDACTED:email]",
    }
    assert llm.error_message == "upstream rejected key [REDACTED:api_key]"
    assert run.input_preview == f"I am [REDACTED:email], card [REDACTED:card], order {ORDER}"
    assert run.output_preview == "Refund sent to [REDACTED:email]"
    # Redaction hides content, not what the call was: model, usage and cost are all there.
    assert (llm.model, llm.input_tokens, llm.priced) == ("gpt-4o", 100, True)


def test_a_custom_pattern_is_applied_beside_the_built_in_rules():
    project = make_project()
    IngestPolicy.objects.create(project=project, custom_patterns=[r"ORD-\d{6}"])
    trace_id = os.urandom(16)
    ingest(project, sensitive_run(trace_id))
    run, steps = stored(project, trace_id)
    text = everything_stored(run, steps)
    for secret in (*SECRETS, ORDER):
        assert secret not in text, secret
    assert first_text(steps["chat gpt-4o"].output) == "Mail [REDACTED:email] about [REDACTED:custom]"
    assert run.input_preview == "I am [REDACTED:email], card [REDACTED:card], order [REDACTED:custom]"


def test_built_in_rules_can_be_turned_off():
    project = make_project()
    IngestPolicy.objects.create(project=project, builtin_redactions=["card"], custom_patterns=[])
    trace_id = os.urandom(16)
    ingest(project, sensitive_run(trace_id))
    run, steps = stored(project, trace_id)
    text = everything_stored(run, steps)
    assert EMAIL in text and API_KEY in text
    assert CARD not in text and "4111111111111111" not in text


def test_drop_content_stores_no_inputs_outputs_or_content_attributes():
    project = make_project()
    IngestPolicy.objects.create(project=project, drop_content=True)
    trace_id = os.urandom(16)
    tool = SpanSpec(
        "execute_tool refund",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "refund",
            "gen_ai.tool.call.arguments": json.dumps({"card": CARD}),
            "gen_ai.tool.call.result": json.dumps({"sent_to": EMAIL}),
        },
        start_ns=START + 3 * NS,
        end_ns=START + 4 * NS,
    )
    # OpenInference keeps the request and response bodies in attributes beside the messages it promotes.
    openinference = SpanSpec(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": f"hi, {EMAIL}",
            "input.value": json.dumps({"messages": [{"role": "user", "content": f"hi, {EMAIL}"}]}),
            "input.mime_type": "application/json",
            "output.value": f"hello {ORDER}",
            "llm.prompt_template.variables": json.dumps({"order": ORDER}),
        },
        start_ns=START + 2 * NS,
        end_ns=START + 3 * NS,
    )
    retriever = SpanSpec(
        "retrieve",
        {"openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.content": f"{ORDER} ships Monday"},
        start_ns=START + 2 * NS,
        end_ns=START + 3 * NS,
    )
    spans = sensitive_run(trace_id)
    for child in (tool, openinference, retriever):
        child.parent = spans[0].span_id
    ingest(project, [*spans, *(c.build(trace_id) for c in (tool, openinference, retriever))])
    run, steps = stored(project, trace_id)
    content_keys = {
        "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result", "input.value", "output.value", "llm.prompt_template.variables",
        "retrieval.documents.0.document.content", "llm.input_messages.0.message.content",
    }  # fmt: skip
    for step in steps.values():
        assert (step.input, step.output, step.events) == (None, None, []), step.name
        assert not content_keys & step.attributes.keys(), step.name
    assert steps["ChatCompletion"].attributes["input.mime_type"] == "application/json"
    assert (run.input_preview, run.output_preview) == ("", "")
    llm = steps["chat gpt-4o"]
    # What is not content stays, still redacted: the call, its usage and cost, other attributes.
    assert llm.attributes["customer.tier"] == "gold"
    assert llm.attributes["customer.note"] == "VIP, reach at [REDACTED:email]"
    assert (llm.input_tokens, llm.output_tokens, llm.priced) == (100, 10, True)
    assert steps["execute_tool refund"].tool_name == "refund"
    text = everything_stored(run, steps)
    for secret in (*SECRETS, ORDER):
        assert secret not in text, secret


def test_a_policy_change_applies_to_spans_stored_after_it():
    project = make_project()
    before, after = os.urandom(16), os.urandom(16)
    ingest(project, sensitive_run(before))
    IngestPolicy.objects.create(project=project, drop_content=True)
    ingest(project, sensitive_run(after))
    assert stored(project, before)[1]["chat gpt-4o"].input is not None
    assert stored(project, after)[1]["chat gpt-4o"].input is None


# --- cost ---------------------------------------------------------------------------------------------


def llm_span(model: str, input_tokens: int, output_tokens: int, offset: int = 1, **extra: Any) -> SpanSpec:
    return SpanSpec(
        f"chat {model}",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            **extra,
        },
        start_ns=START + offset * NS,
        end_ns=START + (offset + 1) * NS,
    )


def test_a_price_override_prices_a_custom_model():
    project = make_project()
    PriceOverride.objects.create(
        project=project,
        model="Acme-LLM-1",
        input_per_mtok=Decimal("2"),
        output_per_mtok=Decimal("10"),
        cache_read_per_mtok=Decimal("0.5"),
    )
    trace_id = os.urandom(16)
    spans = [
        llm_span("acme-llm-1", 1500, 300),  # matched without regard to case
        llm_span("ACME-LLM-1", 1500, 300, offset=2, **{"gen_ai.usage.cache_read.input_tokens": 500}),
    ]
    ingest(project, [s.build(trace_id) for s in spans])
    run, steps = stored(project, trace_id)
    plain, cached = steps["chat acme-llm-1"], steps["chat ACME-LLM-1"]
    assert (plain.priced, plain.unpriced_reason) == (True, None)
    assert plain.cost_usd == Decimal("0.006")  # 1500 x $2 + 300 x $10, per million
    assert cached.cost_usd == Decimal("0.00525")  # 1000 x $2 + 500 x $0.50 + 300 x $10, per million
    assert run.cost_usd == Decimal("0.01125")
    assert (run.unpriced_steps, run.cost_complete) == (0, True)


def test_an_override_wins_over_the_bundled_price():
    project = make_project()
    trace_id, other = os.urandom(16), os.urandom(16)
    ingest(project, [llm_span("gpt-4o", 1_000_000, 0).build(other)])
    bundled = stored(project, other)[0].cost_usd
    PriceOverride.objects.create(project=project, model="gpt-4o", input_per_mtok=Decimal("1"), output_per_mtok=0)
    ingest(project, [llm_span("gpt-4o", 1_000_000, 0).build(trace_id)])
    assert bundled > 0 and bundled != Decimal(1)
    assert stored(project, trace_id)[0].cost_usd == Decimal(1)


def test_an_unknown_model_is_unpriced_and_the_run_says_its_cost_is_incomplete(client):
    project = make_project()
    trace_id = os.urandom(16)
    ingest(
        project, [llm_span("gpt-4o", 1000, 100).build(trace_id), llm_span("acme-llm-1", 1000, 100, 2).build(trace_id)]
    )
    run, steps = stored(project, trace_id)
    known, unknown = steps["chat gpt-4o"], steps["chat acme-llm-1"]
    assert (unknown.cost_usd, unknown.priced) == (None, False)
    assert unknown.unpriced_reason and "acme-llm-1" in unknown.unpriced_reason
    assert known.priced and known.cost_usd is not None and known.cost_usd > 0
    assert run.cost_usd == known.cost_usd  # what could be priced, and no more
    assert (run.unpriced_steps, run.cost_complete) == (1, False)


def test_the_run_api_reports_incomplete_cost(client):
    from agentops.tenancy import services
    from agentops.tenancy.roles import Role

    project = make_project()
    user = services.user_create(email=f"cost-{os.urandom(4).hex()}@example.com")
    services.membership_grant(user=user, project=project, role=Role.VIEWER)
    trace_id = os.urandom(16)
    ingest(project, [llm_span("acme-llm-1", 1000, 100).build(trace_id)])
    client.force_login(user)
    (item,) = client.get(f"/api/v1/projects/{project.slug}/runs/").json()["results"]
    assert (item["cost_usd"], item["cost_complete"], item["unpriced_steps"]) == (0.0, False, 1)
    step = client.get(f"/api/v1/projects/{project.slug}/runs/{trace_id.hex()}/").json()["steps"][0]
    assert (step["cost_usd"], step["priced"]) == (None, False) and step["unpriced_reason"]


def test_a_step_without_usage_needs_no_price():
    project = make_project()
    trace_id = os.urandom(16)
    tool = SpanSpec("execute_tool t", {"gen_ai.tool.name": "t"}, start_ns=START, end_ns=START + NS)
    ingest(project, [tool.build(trace_id)])
    run, steps = stored(project, trace_id)
    assert (steps["execute_tool t"].priced, steps["execute_tool t"].unpriced_reason) == (False, None)
    assert (run.unpriced_steps, run.cost_complete, run.cost_usd) == (0, True, Decimal(0))


def test_a_cost_reported_by_the_instrumentation_is_kept_beside_ours():
    project = make_project()
    trace_id = os.urandom(16)
    openinference = SpanSpec(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.provider": "openai",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 100,
            "llm.cost.total": 0.0123,
        },
        start_ns=START + NS,
        end_ns=START + 2 * NS,
    )
    langfuse = SpanSpec(
        "generation",
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "acme-llm-1",
            "langfuse.observation.usage_details": json.dumps({"input": 10, "output": 5}),
            "langfuse.observation.cost_details": json.dumps({"input": 0.001, "output": 0.002}),
        },
        start_ns=START + 3 * NS,
        end_ns=START + 4 * NS,
    )
    ingest(project, [openinference.build(trace_id), langfuse.build(trace_id)])
    run, steps = stored(project, trace_id)
    ours = steps["ChatCompletion"]
    assert ours.reported_cost_usd == Decimal("0.0123")
    assert ours.priced and ours.cost_usd is not None and ours.cost_usd != ours.reported_cost_usd
    assert steps["generation"].reported_cost_usd == Decimal("0.003")  # the parts, summed
    assert steps["generation"].cost_usd is None  # we do not know acme-llm-1's price
    assert run.reported_cost_usd == Decimal("0.0153")
    assert run.cost_usd == ours.cost_usd
    assert "llm.cost.total" not in ours.attributes  # promoted, not kept twice


def test_no_reported_cost_is_null_not_zero():
    project = make_project()
    trace_id = os.urandom(16)
    ingest(project, [llm_span("gpt-4o", 10, 1).build(trace_id)])
    run, steps = stored(project, trace_id)
    assert (run.reported_cost_usd, steps["chat gpt-4o"].reported_cost_usd) == (None, None)
