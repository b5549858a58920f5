"""Celery tasks of notifications.

deliver_outbox: claim due outbox messages and deliver them (agentops.notify.outbox.deliver_due), for
at most SWEEP_SECONDS so that one slow receiver does not hold a worker. Sent after every enqueue's
commit and by beat every 10 s (agentops/celery.py), which also catches what a lost kick or a dead
worker left behind. Returns the number of messages claimed. Safe to run many at once: claims never
overlap.
"""

from __future__ import annotations

from celery import shared_task

from agentops.notify import outbox

SWEEP_SECONDS = 30.0


@shared_task(ignore_result=True)
def deliver_outbox() -> int:
    return outbox.deliver_due(max_seconds=SWEEP_SECONDS).claimed
