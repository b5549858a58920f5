"""traces.ingest.conventions.base: what every convention shares (here: which values name a provider)."""

from __future__ import annotations

import pytest
from genai_prices.data_snapshot import get_snapshot

from tests.otlp import NS, SpanSpec
from traces.ingest.conventions.base import known_providers, loads
from traces.ingest.normalize import normalize
from traces.ingest.spans import Span

START = 1_767_225_600 * NS


def step_of(attrs: dict[str, object]) -> object:
    pb = SpanSpec("chat", attrs, start_ns=START, end_ns=START + NS).build(b"\x01" * 16)
    span = Span(
        pb.trace_id, pb.span_id, None, pb.name, 1, pb.start_time_unix_nano, pb.end_time_unix_nano, 0, "",
        {kv.key: kv.value.string_value or kv.value.int_value for kv in pb.attributes}, (), (), {}, "", "",
    )  # fmt: skip
    return normalize(span)


@pytest.mark.parametrize("framework", ["strands-agents", "gcp.vertex.agent", "crewai", "langchain"])
def test_a_framework_in_gen_ai_system_is_not_taken_for_the_provider(framework: str) -> None:
    step = step_of({"gen_ai.operation.name": "chat", "gen_ai.system": framework, "gen_ai.request.model": "gpt-4o"})
    assert step.provider is None  # type: ignore[attr-defined]
    assert step.attributes["gen_ai.system"] == framework  # type: ignore[attr-defined]  # kept as sent


@pytest.mark.parametrize(
    ("system", "provider"), [("Anthropic", "anthropic"), ("openai", "openai"), ("ollama", "ollama")]
)
def test_a_provider_in_gen_ai_system_is_the_provider(system: str, provider: str) -> None:
    step = step_of({"gen_ai.operation.name": "chat", "gen_ai.system": system, "gen_ai.request.model": "m"})
    assert step.provider == provider  # type: ignore[attr-defined]


def test_a_framework_in_gen_ai_provider_name_is_not_the_provider() -> None:
    # Strands under OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental.
    step = step_of({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "strands-agents"})
    assert step.provider is None  # type: ignore[attr-defined]


def test_gen_ai_provider_name_is_taken_as_sent_even_when_unknown() -> None:
    # The current attribute names the provider by definition, a self-hosted gateway included.
    step = step_of({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "acme-gateway"})
    assert step.provider == "acme-gateway"  # type: ignore[attr-defined]


def test_every_genai_prices_provider_is_known() -> None:
    step = step_of({"gen_ai.operation.name": "chat", "gen_ai.system": "together", "gen_ai.request.model": "m"})
    assert step.provider == "together"  # type: ignore[attr-defined]
    assert len(known_providers()) > len(get_snapshot().providers)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000,
        "[" * 1000 + "]" * 1000,
        "[0," * 900 + "0" + "]" * 900,
        '{"a":' * 600 + "1" + "}" * 600,
        "[" * 255 + "]" * 255,
    ],
)
def test_json_text_nested_too_deep_stays_text(text: str) -> None:
    # A prompt of 1,000 "[" raised RecursionError from json.loads out of ingest.
    assert loads(text) == text


def test_json_text_within_the_depth_is_parsed_with_its_brackets_in_strings_ignored() -> None:
    assert loads("[" * 254 + "]" * 254) is not None and isinstance(loads("[" * 254 + "]" * 254), list)
    messages = '[{"role": "user", "content": "' + "[[[[" * 100 + '"}]'
    assert loads(messages) == [{"role": "user", "content": "[[[[" * 100}]
    assert loads("[1e400, 123456789012345678901234567890]")[1] == 123456789012345678901234567890
