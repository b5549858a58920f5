"""Shared by the convention tests: the captured steps of a fixture case, picked out by kind."""

from __future__ import annotations

from tests.fixtures.otlp.loader import load_steps
from traces.ingest.steps import Step, StepKind


def steps_of(convention: str, case: str) -> list[Step]:
    return load_steps(convention, case)


def of_kind(steps: list[Step], kind: StepKind) -> list[Step]:
    """Steps of one kind, in start order (exporters send spans in end order)."""
    return sorted((s for s in steps if s.kind is kind), key=lambda s: s.start_ns)


def text_of(message: dict) -> str:
    return "".join(p.get("content", "") for p in message["parts"] if p["type"] == "text")
