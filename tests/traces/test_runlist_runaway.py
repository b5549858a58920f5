"""Runaway runs in the run list (traces.views.runs, traces.selectors.runlist, traces.filters): the badge
on the page's runs past their step cap, the runaway=1 filter (page and API), the live poll re-sending a
row found runaway, tenancy, and one query for the badges whatever the number of runs."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agentops.budgets.models import RunawayRun, StepCap
from agentops.budgets.runaway import runaways_record
from agentops.tenancy.services import api_token_create
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces.models import Run

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr id="run-\d+" class="run[^"]*" data-trace="([0-9a-f]{32})".*?</tr>', re.S)
BADGE = 'class="badge runaway"'


def marked(response: Any) -> dict[str, bool]:
    """Each row's trace id and whether it carries the badge."""
    assert response.status_code == 200, response.content[:300]
    return {m.group(1): BADGE in m.group(0) for m in ROW.finditer(response.content.decode())}


@pytest.fixture
def runs(personas: Any) -> dict[str, str]:
    """looping: past its agent's cap (recorded by the job); calm: below it; theirs: past the same cap
    in another project (its trace id recorded there only)."""
    project = personas.project
    for p in (project, personas.other_project):
        StepCap.objects.create(project=p, agent="support-bot", max_steps=4)
    found = {
        "looping": make_run(project, AgentTrace(agent="support-bot", llm_calls=6)).trace_hex,
        "calm": make_run(project, AgentTrace(agent="support-bot", llm_calls=1)).trace_hex,
    }
    theirs = AgentTrace(agent="support-bot", llm_calls=6)
    make_run(personas.other_project, theirs)
    calm_there = AgentTrace(agent="support-bot", llm_calls=1)
    make_run(project, calm_there)
    # The same trace id past its cap in the other project: its record must not mark this project's run.
    make_run(personas.other_project, AgentTrace(trace_id=calm_there.trace_id, agent="support-bot", llm_calls=6))
    found["theirs"] = calm_there.trace_hex
    runaways_record()
    assert RunawayRun.objects.filter(project=project).count() == 1
    return found


def test_runs_past_their_cap_carry_the_badge(client, personas, runs):
    client.force_login(personas.viewer)
    rows = marked(client.get(f"/p/{personas.project.slug}/runs/"))
    assert rows == {runs["looping"]: True, runs["calm"]: False, runs["theirs"]: False}


def test_the_filter_lists_only_runaway_runs(client, personas, runs):
    client.force_login(personas.viewer)
    assert marked(client.get(f"/p/{personas.project.slug}/runs/", {"runaway": "1"})) == {runs["looping"]: True}
    token = api_token_create(user=personas.viewer).secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    listed = api.get(f"/api/v1/projects/{personas.project.slug}/runs/", {"runaway": "1"}).json()
    assert [r["trace_id"] for r in listed["results"]] == [runs["looping"]]


def test_a_bad_runaway_filter_is_a_400_naming_it(client, personas, runs):
    client.force_login(personas.viewer)
    response = client.get(f"/p/{personas.project.slug}/runs/", {"runaway": "yes"})
    assert response.status_code == 400 and b"runaway must be 1" in response.content


def test_an_outsider_sees_neither_the_list_nor_the_filter(client, personas, runs):
    client.force_login(personas.outsider)
    assert client.get(f"/p/{personas.project.slug}/runs/", {"runaway": "1"}).status_code == 404
    token = api_token_create(user=personas.outsider).secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get(f"/api/v1/projects/{personas.project.slug}/runs/", {"runaway": "1"}).status_code == 404


def test_the_live_poll_resends_a_row_found_runaway(client, personas, runs):
    """Recording a runaway writes no run: without its own look at the table, the poll would leave the
    row unbadged until a reload."""
    hour_ago = timezone.now() - timedelta(hours=1)
    Run.objects.filter(project=personas.project).update(updated_at=hour_ago)
    RunawayRun.objects.update(detected_at=hour_ago)
    client.force_login(personas.viewer)
    ids = dict(Run.objects.filter(project=personas.project).values_list("trace_id", "pk"))
    calm = next(pk for trace, pk in ids.items() if trace.hex == runs["calm"])
    since = timezone.now().isoformat()
    query = [("after", max(ids.values())), ("since", since)] + [("shown", pk) for pk in ids.values()]
    url = f"/p/{personas.project.slug}/runs/"
    assert client.get(url, query).status_code == 204
    run = Run.objects.get(pk=calm)
    RunawayRun.objects.create(
        project=personas.project, trace_id=run.trace_id, agent=run.agent, cap_name="max_steps", cap_value=4,
        value=5, detected_at=timezone.now(),
    )  # fmt: skip
    response = client.get(url, query)
    assert response.status_code == 200
    row = re.search(rf'<tr id="run-{calm}".*?</tr>', response.content.decode(), re.S)
    assert row and BADGE in row.group(0)


def test_the_badges_cost_one_query_whatever_the_number_of_runs(client, personas, runs):
    client.force_login(personas.engineer)
    url = f"/p/{personas.project.slug}/runs/"

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return sum("budgets_runawayrun" in q["sql"] for q in queries.captured_queries)

    assert count() == 1
    for _ in range(5):
        make_run(personas.project, AgentTrace(agent="support-bot", llm_calls=6))
    runaways_record(since=timezone.now() - timedelta(hours=1))
    assert RunawayRun.objects.filter(project=personas.project).count() == 6
    assert count() == 1
