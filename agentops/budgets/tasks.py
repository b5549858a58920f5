"""Celery tasks of budgets.

expire_reservations: held reservations past their expiry become expired
(agentops.budgets.reservations.reservations_expire). Beat runs it every BUDGETS_EXPIRE_SECONDS
(agentops/celery.py); each call handles at most EXPIRE_BATCH rows, the longest overdue first, and calls
itself again at once while a full batch came back, so a backlog drains without waiting for beat. A held
reservation stops counting at its expiry whether or not this ran: the job only records it. Returns the
number expired. Safe to run many at once: rows another transaction holds are skipped.

record_runaways: runs past their agent's step cap, recorded once and alerted (see the task).
"""

from __future__ import annotations

from celery import shared_task

from agentops.budgets import reservations, runaway


@shared_task(ignore_result=True)
def expire_reservations() -> int:
    expired = reservations.reservations_expire()
    if expired >= reservations.EXPIRE_BATCH:
        expire_reservations.delay()
    return expired


@shared_task(ignore_result=True)
def record_runaways() -> int:
    """Runs past their agent's step cap, recorded once and alerted (agentops.budgets.runaway); returns
    how many were new. Beat runs it every BUDGETS_RUNAWAY_SECONDS, expiring before the next is due."""
    return runaway.runaways_record().recorded
