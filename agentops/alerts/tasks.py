"""Celery tasks of alerts.

evaluate_alerts: one evaluation cycle (agentops.alerts.evaluation.cycle.run_cycle): every enabled rule,
then reminders. Scheduled every minute by beat (agentops/celery.py) with an expiry, so a backlog of
cycles queued while no worker ran collapses; an advisory lock keeps two from running at once (the
second returns at once). Returns the number of rules evaluated, or -1 when another cycle was running.
"""

from __future__ import annotations

from celery import shared_task

from agentops.alerts.evaluation.cycle import run_cycle


@shared_task(ignore_result=True)
def evaluate_alerts() -> int:
    result = run_cycle()
    return -1 if result is None else result.rules
