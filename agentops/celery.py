"""The Celery application. The beat schedule is defined here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

app = Celery("agentops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Keep Django's LOGGING (JSON lines with the request id) in the worker and beat too.
app.conf.worker_hijack_root_logger = False


def _every(variable: str, default: int = 60) -> dict[str, Any]:
    """Every `variable` seconds (an environment variable: read here, not from Django's settings, which
    the HTTP-only clients importing this package never load), expiring a little before the next run
    is due (55 s of a minute). Tests that drive the whole chain with real processes shorten them."""
    raw = os.environ.get(variable, "").strip() or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{variable} must be a whole number of seconds, at least 1, not {raw!r}")
    seconds = int(raw)
    return {"schedule": float(seconds), "options": {"expires": seconds * 11 / 12}}


app.conf.beat_schedule = {
    # The worker heartbeat lets /readyz and the UI tell that a worker is consuming the queue.
    "worker-heartbeat": {"task": "agentops.tasks.record_heartbeat", "schedule": 30.0},
    # The dashboards' hourly rollups (traces.rollups); a dashboard request also catches its own project up.
    "refresh-rollups": {"task": "traces.tasks.refresh_rollups", "schedule": 60.0},
    # Agents and bundles (agentops.agents) from the runs changed since the last pass. A pass that waited
    # past the next one's start is dropped: the next covers the same runs.
    "record-bundles": {"task": "agentops.agents.tasks.record_bundles", **_every("BUNDLES_RECORD_SECONDS")},
    # Alert rules (agentops.alerts.tasks): every enabled rule, then reminders. A cycle that waited past
    # the next one's start is dropped, and one still running makes the next return at once (a lock).
    "evaluate-alerts": {"task": "agentops.alerts.tasks.evaluate_alerts", **_every("ALERTS_EVALUATE_SECONDS")},
    # Approval requests past their expiry (agentops.approvals.tasks): expired, or escalated once, within
    # this interval of their expiry (until then they read pending, and a decision on them is refused).
    "expire-approvals": {"task": "agentops.approvals.tasks.expire_approvals", **_every("APPROVALS_EXPIRE_SECONDS", 15)},
    # Budget reservations past their TTL (agentops.budgets.tasks): recorded expired in bounded batches
    # (they stop counting at their expiry whether or not this ran).
    "expire-reservations": {
        "task": "agentops.budgets.tasks.expire_reservations",
        **_every("BUDGETS_EXPIRE_SECONDS", 60),
    },
    # Golden set sampling rules (agentops.goldens.tasks): each enabled rule past the runs finished since
    # its cursor, in bounded batches; a pass that waited past the next one's start is dropped.
    "sample-golden-runs": {"task": "agentops.goldens.tasks.sample_runs", **_every("GOLDENS_SAMPLE_SECONDS")},
    # Runs past their agent's step cap (agentops.budgets.runaway): recorded once, from the runs changed
    # since the last pass (a watermark); the "Runaway runs" alert rule counts them.
    "record-runaways": {"task": "agentops.budgets.tasks.record_runaways", **_every("BUDGETS_RUNAWAY_SECONDS", 60)},
    # Retention (agentops.retention.tasks): every project's policy and the audit log's, once a day.
    # Expires 22 h after it is due: a day's job no worker took is dropped, the next covers the same rows.
    "apply-retention": {"task": "agentops.retention.tasks.apply_retention", **_every("RETENTION_APPLY_SECONDS", 86400)},
    # The notification outbox (agentops.notify): what a lost kick or a dead worker left behind goes out
    # within seconds. Expires so that a backlog of sweeps queued while no worker ran collapses.
    "deliver-notifications": {
        "task": "agentops.notify.tasks.deliver_outbox",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    },
}


def ensure_broker_folders() -> None:
    """Create the filesystem transport's queue folders; kombu lists them and fails if they are missing."""
    from django.conf import settings

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


def run_celery(argv: list[str]) -> None:
    """Run a `celery` subcommand in this process; exit with its exit code when it fails."""
    ensure_broker_folders()
    code: int | None = app.start(argv)
    if code:
        raise SystemExit(code)
