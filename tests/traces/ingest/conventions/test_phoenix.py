"""Arize Phoenix's register() (arize-phoenix-otel 0.17.2) over OTLP/gRPC: the Export request's bytes as
the gRPC receiver got them decode like an HTTP body, and OpenInference reads them."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from traces.ingest.steps import StepKind


def test_grpc_export_of_register_with_auto_instrumented_openai() -> None:
    steps = steps_of("phoenix", "agent_run")
    assert {s.convention for s in steps} == {"openinference"}
    # register(project_name=...) names the Phoenix project, not the service: OTel's default stays
    assert {s.service_name for s in steps} == {"unknown_service:python"}
    assert {s.resource["openinference.project.name"] for s in steps} == {"weather-agent"}
    first, second, failed = of_kind(steps, StepKind.LLM)
    assert (first.model, first.provider) == ("gpt-4.1-mini-2025-04-14", "openai")
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens) == (200, 18, 64)
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    assert failed.status == "error"
    (agent,) = of_kind(steps, StepKind.AGENT)
    assert (agent.agent_name, agent.session_id, agent.user_id) == ("weather_agent", "sess-px-1", "user-42")
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert tool.tool_name == "get_weather" and tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
