"""What any span can carry, whatever produced it: OTel session and user attributes, error.type,
exception events, the deployment environment. Applied to every span, after the conventions."""

from __future__ import annotations

from typing import Any

from traces.ingest.conventions.base import Draft, as_str
from traces.ingest.spans import Span
from traces.ingest.steps import StepKind

NAME = "generic"


def matches(span: Span) -> bool:
    return True


def kind(attrs: dict[str, Any]) -> StepKind | None:
    return None


def extract(span: Span, d: Draft) -> None:
    d.fill_str("session_id", "session.id")
    d.fill_str("user_id", "user.id", "enduser.id")
    d.fill_str("environment", "deployment.environment.name", "deployment.environment")
    if d.status == "error":
        d.fill_str("error_type", "error.type")
        for event in span.events:
            if event.name == "exception":
                if d.error_type is None:
                    d.error_type = as_str(event.attributes.get("exception.type"))
                if d.error_message is None:
                    d.error_message = as_str(event.attributes.get("exception.message"))
                break
        if d.error_message is None:
            d.error_message = span.status_message or None
    if d.error_type and d.error_type.startswith("<class '") and d.error_type.endswith("'>"):
        # str(type(exc)), as some instrumentations send it; the attribute keeps what was sent.
        d.attrs.setdefault("error.type", d.error_type)
        d.error_type = d.error_type[8:-2]
    if d.kind is StepKind.TOOL and d.tool_name is None:
        # A tool span that names its tool only in the span's name (Langfuse's tool observations, OTel's
        # `execute_tool {name}`): the run counts calls per tool by this name.
        d.tool_name = span.name.removeprefix("execute_tool ") or None
    _agent_name(span, d)


def _agent_name(span: Span, d: Draft) -> None:
    """The agent a step belongs to, when no convention found it in an agent attribute.

    LangChain puts the name given to create_agent in every span's metadata (lc_agent_name): it is the
    user's own name for the agent, as is the OTel `invoke_agent {name}` span name. Otherwise a name is
    derived, and marked so (a run prefers any step that names its agent outright): an agent span's
    LangGraph node or its own name, or the workflow an OTel `invoke_workflow` span names (ADK's root)."""
    if d.agent_name is not None:
        return
    lc_name = as_str(d.metadata.get("lc_agent_name")) if d.metadata else None
    if lc_name is not None:
        d.agent_name = lc_name
        return
    if span.name.startswith("invoke_agent ") and len(span.name) > len("invoke_agent "):
        d.agent_name = span.name[len("invoke_agent ") :]
        return
    # An agent span's own name is taken when it reads as a name (weather_agent, as a decorated function
    # names its span), not when it names a method or a call (FunctionAgent.run, ai.generateText,
    # anthropic.messages.tool_runner), which says less than the service's name.
    if d.kind is StepKind.AGENT:
        derived = as_str(d.attrs.get("graph.node.id"))
        if derived is None and "." not in span.name and "(" not in span.name:
            derived = span.name or None
    else:
        derived = as_str(d.attrs.get("gen_ai.workflow.name"))
    if derived is not None:
        d.agent_name, d.agent_name_derived = derived, True
