"""The Celery application. The beat schedule is defined here and nowhere else."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

app = Celery("agentops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # The worker heartbeat lets /readyz and the UI tell that a worker is consuming the queue.
    "worker-heartbeat": {"task": "agentops.tasks.record_heartbeat", "schedule": 30.0},
}
