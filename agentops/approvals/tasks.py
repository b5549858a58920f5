"""Celery tasks of approvals.

expire_approvals: expire (or escalate once, by their on_timeout) the pending requests past their expiry
(agentops.approvals.services.approvals_expire), so that nothing stays pending forever. Beat runs it
every APPROVALS_EXPIRE_SECONDS (agentops/celery.py); each call handles at most EXPIRE_BATCH requests,
the longest overdue first, and calls itself again at once while a full batch came back, so a backlog
drains without waiting for beat. Returns {"expired": n, "escalated": n}. Safe to run many at once:
rows another worker holds are skipped.
"""

from __future__ import annotations

from celery import shared_task

from agentops.approvals import services


@shared_task(ignore_result=True)
def expire_approvals() -> dict[str, int]:
    counts = services.approvals_expire()
    if sum(counts.values()) >= services.EXPIRE_BATCH:
        expire_approvals.delay()
    return counts
