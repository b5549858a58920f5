"""Celery tasks of traces.

refresh_rollups: bring the dashboards' hourly rollups up to date with the runs changed since the last
refresh (traces.rollups.refresh applies each changed run's new contribution less its old one; the
first refresh rebuilds). Scheduled every minute by beat (agentops/celery.py). Returns the number of
(project, hour) pairs whose rows changed. Safe to run concurrently with ingest and with itself: a
project's runs are applied under its advisory lock, and a run seen twice is applied once.
"""

from __future__ import annotations

from celery import shared_task

from traces import rollups


@shared_task(ignore_result=True)
def refresh_rollups() -> int:
    return rollups.refresh().hours
