"""Celery tasks of traces.

refresh_rollups: recompute the dashboards' hourly rollups for the hours whose runs changed since the
last refresh (traces.rollups.refresh). Scheduled every minute by beat (agentops/celery.py). Returns the
number of hours recomputed. Safe to run concurrently with ingest and with itself: each chunk of hours
is replaced in one transaction, and a later refresh recomputes anything a concurrent one read early.
"""

from __future__ import annotations

from celery import shared_task

from traces import rollups


@shared_task(ignore_result=True)
def refresh_rollups() -> int:
    return rollups.refresh().hours
