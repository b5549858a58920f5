"""Rule evaluation: one module per rule kind, each `evaluate(rule, *, now) -> list[Finding]`
(agentops.alerts.evaluation.base); agentops.alerts.lifecycle turns findings into alerts.

EVALUATORS maps a rule kind to its evaluator. Each module is imported when first used, so that
importing the registry (or base, which this package holds) costs nothing and a kind's module that
fails to import fails its rules only (agentops.alerts.evaluation.cycle logs them), not the others.
"""

from __future__ import annotations

from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentops.alerts.evaluation.base import Evaluator, Finding
    from agentops.alerts.models import AlertRule


def _lazy(module: str) -> Evaluator:
    def evaluate(rule: AlertRule, *, now: datetime) -> list[Finding]:
        found: list[Finding] = import_module(f"{__name__}.{module}").evaluate(rule, now=now)
        return found

    evaluate.__qualname__ = f"{module}.evaluate"
    return evaluate


# kind (agentops.alerts.models.RuleKind) -> evaluator
EVALUATORS: dict[str, Evaluator] = {
    "drift": _lazy("drift"),
    "threshold": _lazy("threshold"),
    "spike": _lazy("spike"),
    "budget": _lazy("budget"),
}
