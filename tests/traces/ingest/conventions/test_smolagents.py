"""smolagents through openinference-instrumentation-smolagents, captured from a ToolCallingAgent
(tests/fixtures/otlp/scenarios/smolagents.py)."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from traces.ingest import messages as m
from traces.ingest.steps import StepKind


def test_smolagents_roles_are_the_canonical_ones() -> None:
    _, second, failed = of_kind(steps_of("smolagents", "agent_run"), StepKind.LLM)
    assert [msg["role"] for msg in second.input] == ["system", "user", "assistant", "tool"]
    assert text_of(second.input[3]).startswith("Observation:")
    assert [msg["role"] for msg in failed.input] == ["system", "user", "assistant", "tool", "assistant", "tool", "user"]
    assert m.role("tool-call") == "assistant" and m.role("tool-response") == "tool"
    # The roles as sent stay in attributes: the canonical role alone would not say them.
    assert second.attributes["llm.input_messages.2.message.role"] == "tool-call"
    assert "llm.input_messages.1.message.role" not in second.attributes
    assert second.output[0]["parts"][0]["name"] == "final_answer"


def test_the_agent_is_named_from_its_run_span() -> None:
    steps = steps_of("smolagents", "agent_run")
    (agent,) = of_kind(steps, StepKind.AGENT)  # the failed run's agent span is never ended nor sent
    assert agent.name == "weather_agent.run"
    assert agent.agent_name == "weather_agent"
    assert agent.output == "It is sunny in Paris, 21 degrees."
    tools = of_kind(steps, StepKind.TOOL)
    assert [t.tool_name for t in tools] == ["get_weather", "final_answer"]
    assert {(s.session_id, s.user_id) for s in steps} == {("sess-sa-1", "user-42")}


def test_tool_arguments_are_the_keyword_arguments() -> None:
    weather, final = of_kind(steps_of("smolagents", "agent_run"), StepKind.TOOL)
    assert weather.input == {"city": "Paris"}
    assert weather.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
    assert final.input == {"answer": "It is sunny in Paris, 21 degrees."}
    assert '"sanitize_inputs_outputs": true' in weather.attributes["input.value"]  # as sent, kept
