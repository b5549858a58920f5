"""The beat task of alerts: a thin wrapper over one cycle, scheduled every minute with an expiry."""

from __future__ import annotations

import pytest

from agentops.alerts.models import Alert, AlertRule, RuleKind
from agentops.alerts.tasks import evaluate_alerts
from agentops.celery import app
from tests.factories import make_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("without_default_rules")]


def test_the_task_runs_one_cycle_in_process():
    project = make_project()
    AlertRule.objects.create(
        project=project, name="No traffic", kind=RuleKind.THRESHOLD, metric="runs", direction="below", critical=1
    )

    assert evaluate_alerts() == 1
    assert Alert.objects.get().severity == "critical"


def test_beat_runs_it_every_minute_and_drops_a_late_one():
    (entry,) = [e for e in app.conf.beat_schedule.values() if e["task"] == evaluate_alerts.name]
    assert entry["schedule"] == 60.0
    assert 0 < entry["options"]["expires"] < entry["schedule"]
