"""The recorder's Celery task and its place in the beat schedule."""

from __future__ import annotations

import pytest

from agentops.agents.models import Bundle
from agentops.agents.tasks import record_bundles
from agentops.celery import app
from tests.agentops.alerts.runs import seed
from tests.factories import make_project
from traces import rollups


def test_beat_runs_the_recorder_every_minute_and_drops_a_late_pass():
    entry = app.conf.beat_schedule["record-bundles"]
    assert entry["task"] == record_bundles.name == "agentops.agents.tasks.record_bundles"
    assert entry["schedule"] == 60.0
    assert 0 < entry["options"]["expires"] <= entry["schedule"]


@pytest.mark.django_db
def test_the_task_records_bundles():
    project = make_project()
    seed(project, "v1", 2, hours_ago=1)

    rollups.refresh()
    assert record_bundles() == 1
    assert Bundle.objects.get(project=project).run_count == 2
