"""The daily retention job (Celery beat, agentops/celery.py): agentops.retention.services does the work.

One at a time: a job still running when the next is due makes the next return at once (a session
advisory lock), so two never walk the same rows.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task
from django.db import connection
from django.utils import timezone

from agentops.retention.services import retention_apply

_LOCK = 0x0A6E7A15


@shared_task
def apply_retention() -> dict[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK])
        row = cursor.fetchone()
    if not (row and row[0]):
        return None
    try:
        return asdict(retention_apply(now=timezone.now()))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK])
