"""CrewAI through openinference-instrumentation-crewai (crew, agent and tool spans) and
openinference-instrumentation-openai (the model calls CrewAI's native OpenAI provider makes), captured
from one Agent, Task and Crew (tests/fixtures/otlp/scenarios/crewai.py)."""

from __future__ import annotations

from tests.traces.ingest.conventions.helpers import of_kind, steps_of, text_of
from traces.ingest.steps import StepKind


def test_the_agent_is_named_from_graph_node_id() -> None:
    steps = steps_of("crewai", "agent_run")
    agents = of_kind(steps, StepKind.AGENT)
    assert [a.name for a in agents] == ["weather_agent._execute_core"] * 2
    assert {a.agent_name for a in agents} == {"weather_agent"}
    assert {a.attributes["graph.node.id"] for a in agents} == {"weather_agent"}  # kept: it places the node
    roots = [s for s in steps if s.parent_span_id is None]
    assert {r.kind for r in roots} == {StepKind.CHAIN} and all(r.name.endswith(".kickoff") for r in roots)


def test_model_calls_tool_and_the_failed_run() -> None:
    steps = steps_of("crewai", "agent_run")
    first, second, *failed = of_kind(steps, StepKind.LLM)
    assert (first.model, first.provider, first.input_tokens, first.output_tokens) == (
        "gpt-4.1-mini-2025-04-14",
        "openai",
        200,
        18,
    )
    assert first.output[0]["parts"][0]["name"] == "get_weather"
    assert text_of(second.output[0]) == "It is sunny in Paris, 21 degrees."
    (tool,) = of_kind(steps, StepKind.TOOL)
    assert (tool.tool_name, tool.tool_call_id) == ("get_weather", None)  # CrewAI sends no call id
    assert tool.output == {"city": "Paris", "sky": "sunny", "celsius": 21}
    # The 400 says context_length_exceeded: CrewAI summarizes the history and retries, all failing.
    assert len(failed) == 6 and {s.status for s in failed} == {"error"}
    assert {s.session_id for s in steps} == {"sess-ca-1"} and {s.user_id for s in steps} == {"user-42"}
