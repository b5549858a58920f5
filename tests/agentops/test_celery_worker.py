"""A task enqueued through the embedded filesystem broker runs on the worker that `agentops up` started."""

from __future__ import annotations

import pytest

from tests.agentops.conftest import UpProcess, run_agentops

ENQUEUE = (
    "from agentops.tasks import record_heartbeat\n"
    "from agentops.models import WorkerHeartbeat\n"
    "WorkerHeartbeat.objects.all().delete()\n"
    "print('task', record_heartbeat.delay().id)\n"
)
HEARTBEATS = (
    "from agentops.models import WorkerHeartbeat\n"
    "for h in WorkerHeartbeat.objects.all(): print('heartbeat', h.hostname)\n"
)


@pytest.mark.slow
def test_a_task_sent_from_another_process_runs_on_ups_worker(running_up: UpProcess) -> None:
    # `agentops shell` beside up: the same AGENTOPS_HOME, so the same database and queue folder.
    sent = run_agentops("shell", "-c", ENQUEUE, env=running_up.env())
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.split("task ", 1)[1].split()[0]

    # The worker's own log names this very task (beat also sends heartbeats, with other ids).
    assert running_up.wait_for_output(f"record_heartbeat[{task_id}] succeeded", deadline=60), running_up.output

    # "succeeded" is logged after the task returned, so its row is committed.
    result = run_agentops("shell", "-c", HEARTBEATS, env=running_up.env())
    assert result.returncode == 0, result.stderr
    rows = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("heartbeat ")]
    assert len(rows) == 1
    assert rows[0].startswith("celery@")
