"""Celery tasks of golden sets.

sample_runs: advance every enabled sampling rule past the runs finished since its cursor, queueing the
sampled ones for review or, for auto-accepting rules, adding them to the set
(agentops.goldens.rules_sampling.rules_advance). Scheduled by beat (agentops/celery.py) with an expiry,
so a backlog of passes collapses to one; two passes at once skip each other's rules. Returns the number
of items queued.
"""

from __future__ import annotations

from celery import shared_task

from agentops.goldens.rules_sampling import rules_advance


@shared_task(ignore_result=True)
def sample_runs() -> int:
    return rules_advance().queued
