"""One evaluation cycle: every enabled rule of every project, then the reminders.

evaluate_all(*, now) evaluates each enabled rule (EVALUATORS by its kind) and applies its findings
(agentops.alerts.lifecycle.alerts_observe), each rule in a transaction of its own: a rule whose
evaluation fails (a bad parameter, a kind whose module is missing, a database error, a statement past
RULE_STATEMENT_TIMEOUT_MS) is rolled back and logged as a structured event "alerts.rule_failed" with the rule, project and error, and the other
rules still run. Then alerts_remind. Returns a CycleResult with the counts.

run_cycle(*, now=None) is what the beat task calls: evaluate_all under a database advisory lock taken
without waiting (pg_try_advisory_lock). When another cycle holds it (a slow one still running, a second
beat, a task redelivered) it returns None at once: cycles never run twice at once nor queue up behind
each other; the next minute's cycle covers the same ground. The lock is the session's, so it goes with
the connection if the worker dies.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from agentops.alerts.evaluation import EVALUATORS
from agentops.alerts.lifecycle import alerts_observe, alerts_remind
from agentops.alerts.models import AlertRule

log = logging.getLogger(__name__)

LOCK_NAME = "alerts.evaluate_all"
# No statement of one rule may take longer: a rule whose reads go pathological (a plan gone wrong, a
# lock held) fails alone, logged, instead of holding up every rule after it.
RULE_STATEMENT_TIMEOUT_MS = 20_000
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext(%s))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext(%s))"


@dataclass
class CycleResult:
    rules: int = 0
    failed: int = 0
    findings: int = 0
    events: Counter[str] = field(default_factory=Counter)  # "opened", "resolved", ... -> alerts
    notified: int = 0
    reminders: int = 0
    seconds: float = 0.0


def _evaluate(rule: AlertRule, now: datetime, result: CycleResult) -> None:
    evaluator = EVALUATORS.get(rule.kind)
    if evaluator is None:
        raise ValueError(f"no evaluator for rule kind {rule.kind!r}")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(RULE_STATEMENT_TIMEOUT_MS)])
        findings = evaluator(rule, now=now)
        observed = alerts_observe(rule, findings, now=now)
    result.findings += len(findings)
    result.notified += observed.notified
    for event, alerts in observed.events.items():
        result.events[event] += len(alerts)


def evaluate_all(*, now: datetime) -> CycleResult:
    began = time.perf_counter()
    result = CycleResult()
    rules = AlertRule.objects.filter(enabled=True).select_related("project").order_by("project_id", "id")
    for rule in rules.iterator(chunk_size=500):
        result.rules += 1
        try:
            _evaluate(rule, now, result)
        except Exception as exc:
            result.failed += 1
            log.exception(
                "alerts.rule_failed",
                extra={
                    "event": "alerts.rule_failed",
                    "rule": rule.pk,
                    "project": rule.project_id,
                    "kind": rule.kind,
                    "error": f"{type(exc).__name__}: {exc}"[:500],
                },
            )
    result.reminders = alerts_remind(now=now)
    result.seconds = time.perf_counter() - began
    log.info(
        "alerts.cycle",
        extra={
            "event": "alerts.cycle",
            "rules": result.rules,
            "failed": result.failed,
            "findings": result.findings,
            "changes": dict(result.events),
            "notified": result.notified,
            "reminders": result.reminders,
            "seconds": round(result.seconds, 3),
        },
    )
    return result


def run_cycle(*, now: datetime | None = None) -> CycleResult | None:
    """evaluate_all under the advisory lock; None when another cycle holds it (see the module)."""
    with connection.cursor() as cursor:
        cursor.execute(_TRY_LOCK, [LOCK_NAME])
        (locked,) = cursor.fetchone()
    if not locked:
        log.info("alerts.cycle_skipped", extra={"event": "alerts.cycle_skipped", "reason": "another cycle runs"})
        return None
    try:
        return evaluate_all(now=now or timezone.now())
    finally:
        with connection.cursor() as cursor:
            cursor.execute(_UNLOCK, [LOCK_NAME])
