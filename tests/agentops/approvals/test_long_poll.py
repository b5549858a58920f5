"""Long-polls against a real `agentops web`: many agents wait on ?wait= while the server keeps answering
with two threads, and each waiter gets the decision once a reviewer makes it.

The server has 2 threads and a queue of 2 (4 requests in flight at most before it sheds load): 40
waiters are ten times that, so the test fails if a waiter held a thread or a queue place.
"""

from __future__ import annotations

import concurrent.futures
import signal
import time
from pathlib import Path

import pytest
import requests

from agentops.tenancy.roles import Role
from agentops.tenancy.services import api_token_create
from tests.agentops.server.test_web_under_load import start_web
from tests.factories import make_member, make_project
from tests.traces.conftest import make_engineer, setup_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAITERS = 40


@pytest.fixture
def web(tmp_path: Path):
    yield from start_web(tmp_path, "--threads", "2", WEB_QUEUE_PER_THREAD="1")


def test_many_waiters_hold_no_thread_and_all_wake_on_the_decision(web) -> None:
    project = make_project()
    agent = {"Authorization": f"Bearer {setup_for(project, make_engineer(project)).key}"}
    reviewer = {"Authorization": f"Bearer {api_token_create(user=make_member(project, Role.REVIEWER)).secret}"}
    asked = requests.post(
        web.url("/api/v1/approvals/"), json={"action": "refund", "arguments": {"order": 7}}, headers=agent, timeout=30
    )
    assert asked.status_code == 201, asked.text
    url = web.url(f"/api/v1/approvals/{asked.json()['id']}/")

    def wait() -> tuple[int, str, float]:
        started = time.monotonic()
        answer = requests.get(url, params={"wait": "45"}, headers=agent, timeout=90)
        while answer.status_code == 503:
            # Shed on arrival by a loaded machine (2 threads, a queue of 2): a client asks again, as
            # agentops.client does. A waiter once parked is never shed.
            time.sleep(0.5)
            answer = requests.get(url, params={"wait": "45"}, headers=agent, timeout=90)
        return answer.status_code, answer.json()["state"] if answer.ok else answer.text, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(WAITERS) as pool:
        waiting = []
        for _ in range(WAITERS):
            # Agents that ask one after another, as they do: 40 at the same instant would be shed
            # with 503 by design (the first look of a long-poll is an ordinary request).
            waiting.append(pool.submit(wait))
            time.sleep(0.05)
        time.sleep(2)  # every waiter is parked by now (each look takes a few milliseconds)
        early = [w.result() for w in waiting if w.done()]
        assert not early
        # The server still answers: a read of the request, and the list, with 40 waiters in it.
        assert requests.get(url, headers=agent, timeout=10).json()["state"] == "pending"
        listed = requests.get(web.url(f"/api/v1/projects/{project.slug}/approvals/"), headers=reviewer, timeout=10)
        assert listed.status_code == 200
        decided = requests.post(
            web.url(f"/api/v1/projects/{project.slug}/approvals/{asked.json()['id']}/decision/"),
            json={"decision": "approve", "arguments": {"order": 8}},
            headers=reviewer,
            timeout=10,
        )
        assert decided.status_code == 200, decided.text
        answers = [w.result(timeout=60) for w in waiting]
    assert {(status, state) for status, state, _ in answers} == {(200, "approved")}
    # Woken by the decision, not by the end of their 45 s wait.
    assert max(elapsed for _, _, elapsed in answers) < 45
    seen = requests.get(url, headers=agent, timeout=10).json()
    assert seen["arguments_to_use"] == {"order": 8}


def test_a_wait_that_runs_out_answers_pending(web) -> None:
    project = make_project()
    agent = {"Authorization": f"Bearer {setup_for(project, make_engineer(project)).key}"}
    asked = requests.post(
        web.url("/api/v1/approvals/"), json={"action": "delete", "arguments": {}}, headers=agent, timeout=30
    )
    started = time.monotonic()
    answer = requests.get(
        web.url(f"/api/v1/approvals/{asked.json()['id']}/"), params={"wait": "1.5"}, headers=agent, timeout=30
    )
    assert answer.status_code == 200 and answer.json()["state"] == "pending"
    assert "x-agentops-park" not in answer.headers
    assert time.monotonic() - started >= 1.5


def test_a_stopping_server_answers_its_waiters_instead_of_cutting_them(web) -> None:
    project = make_project()
    agent = {"Authorization": f"Bearer {setup_for(project, make_engineer(project)).key}"}
    asked = requests.post(
        web.url("/api/v1/approvals/"), json={"action": "delete", "arguments": {}}, headers=agent, timeout=30
    )
    url = web.url(f"/api/v1/approvals/{asked.json()['id']}/")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(requests.get, url, params={"wait": "60"}, headers=agent, timeout=90)
        time.sleep(2)
        web.popen.send_signal(signal.SIGTERM)
        answer = waiting.result(timeout=60)
    # The pending state, whole, before gunicorn's 10 s graceful timeout would have cut the connection.
    assert answer.status_code == 200 and answer.json()["state"] == "pending"
