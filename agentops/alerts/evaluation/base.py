"""What an evaluator says about one scope of one rule, for agentops.alerts.lifecycle to act on.

An evaluator reads (it writes nothing) and returns one Finding per scope it could judge: with a
severity when the rule's condition holds, with None when it is clear. A scope it could not judge (too
few runs, no data yet) gets no finding at all: a live alert on it is left as it is, neither resolved
nor escalated, because silence is not evidence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from agentops.alerts.models import AlertRule, Severity

SCOPE_KEYS = ("agent", "bundle", "environment", "model", "tool", "user")
_MAX_KEY = 500  # Alert.scope_key's length


@dataclass(frozen=True, slots=True)
class Finding:
    # The alert's scope: the rule's filters, narrowed to what this finding is about (a drift finding
    # names its agent, bundle and environment). Keys from SCOPE_KEYS.
    scope: Mapping[str, str]
    severity: Severity | None  # None: the condition is clear for this scope
    value: float | None
    baseline_value: float | None
    summary: str  # one line a person can read, with the numbers
    details: Mapping[str, Any] = field(default_factory=dict)  # the evidence, as JSON-able data
    # The run list's filters (traces.filters parameters) that show the runs behind the finding.
    runs_filter: Mapping[str, str] = field(default_factory=dict)


class BadRule(ValueError):
    """A rule whose stored fields an evaluator cannot read (rules.py checks them on every write; this
    is for rows written otherwise). Raised through to the cycle, which logs the rule as failed
    (alerts.rule_failed) and goes on with the others."""


class Evaluator(Protocol):
    def __call__(self, rule: AlertRule, *, now: datetime) -> list[Finding]: ...


def scope_key(scope: Mapping[str, str]) -> str:
    """The scope spelled canonically (sorted keys, empty values dropped): one live alert per rule and
    key. Names may be long (an agent and a bundle of 200 characters each): past the column's length the
    key is a digest of the same spelling."""
    spelled = json.dumps({k: v for k, v in sorted(scope.items()) if v}, separators=(",", ":"), ensure_ascii=False)
    if len(spelled) <= _MAX_KEY:
        return spelled
    return "sha256:" + hashlib.sha256(spelled.encode()).hexdigest()
