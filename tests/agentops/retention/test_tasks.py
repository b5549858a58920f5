"""The beat entry of the daily job, and the job's lock: a second one while the first runs returns at once."""

from __future__ import annotations

import pytest
from django.db import connections

from agentops.celery import app
from agentops.retention import tasks


def test_beat_runs_it_daily_and_drops_a_late_one():
    (entry,) = [e for e in app.conf.beat_schedule.values() if e["task"] == tasks.apply_retention.name]
    assert entry["schedule"] == 86400.0
    assert 0 < entry["options"]["expires"] < entry["schedule"]


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_a_job_already_running_makes_the_next_return_at_once():
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [tasks._LOCK])
        assert tasks.apply_retention() is None
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [tasks._LOCK])
        assert tasks.apply_retention() is not None
    finally:
        other.close()
