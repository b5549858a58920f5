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
    if d.kind is StepKind.AGENT and d.agent_name is None:
        d.agent_name = span.name.removeprefix("invoke_agent ") or None
