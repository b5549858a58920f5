"""A notification queued in another process reaches a local receiver through `agentops up`'s own worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentops.notify.signing import verify
from tests.agentops.conftest import UpProcess, run_agentops, start_up
from tests.agentops.notify.receiver import receiver

ENQUEUE = """
from django.db import transaction
from agentops.notify import services
from agentops.tenancy.models import Project
project = Project.objects.first()
with transaction.atomic():
    minted = services.channel_create(project=project, kind="webhook", url={url!r})
    [message] = services.enqueue(project, "opened", {{"summary": "worker test"}})
print("secret", minted.secret)
print("message", message.pk)
"""


@pytest.fixture
def notifying_up(tmp_path: Path) -> Iterator[UpProcess]:
    """`agentops up` whose channels may reach the test's receiver on 127.0.0.1."""
    up = start_up(tmp_path / "home", NOTIFY_ALLOW_PRIVATE_URLS="true")
    try:
        up.wait_ready()
        yield up
    finally:
        up.stop()


@pytest.mark.slow
def test_a_real_worker_delivers_a_signed_webhook(notifying_up: UpProcess) -> None:
    with receiver() as hook:
        sent = run_agentops("shell", "-c", ENQUEUE.format(url=hook.url), env=notifying_up.env())
        assert sent.returncode == 0, sent.stderr
        values = dict(line.split(" ", 1) for line in sent.stdout.splitlines() if " " in line)
        deadline = time.monotonic() + 60
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # nothing more should come: delivered once
        assert len(hook.requests) == 1, notifying_up.output
    request = hook.requests[0]
    assert verify(values["secret"], request.headers["X-Agentops-Signature"], request.body)
    assert request.headers["X-Agentops-Delivery"] == values["message"]
    assert json.loads(request.body)["summary"] == "worker test"
