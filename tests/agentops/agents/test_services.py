"""The bundle recorder: agents and bundles from the runs, counts, automatic and chosen baselines."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from agentops.agents.models import Agent, Bundle
from agentops.agents.services import RecordResult, bundle_set_baseline, bundles_record
from tests.factories import make_project, make_run
from tests.otlp import NS, AgentTrace
from traces import rollups

pytestmark = pytest.mark.django_db

HOUR = 3600 * NS


def run(project, bundle: str, *, hours_ago: float, agent: str = "bot", environment: str = "prod") -> None:
    resource = {"service.name": agent, "agentops.bundle.id": bundle, "deployment.environment.name": environment}
    make_run(project, AgentTrace(agent=agent, start_ns=time.time_ns() - int(hours_ago * HOUR)), resource)


def record() -> RecordResult:
    """A beat minute: the rollups the counts come from, then the recorder."""
    rollups.refresh()
    return bundles_record()


def bundle(name: str, environment: str = "prod") -> Bundle:
    return Bundle.objects.select_related("baseline").get(name=name, environment=environment)


def test_records_agents_and_bundles_with_counts_and_seen_times():
    project = make_project()
    run(project, "v1", hours_ago=5)
    run(project, "v1", hours_ago=4)
    run(project, "v2", hours_ago=1)

    result = record()

    assert (result.bundles, result.agents) == (2, 1)
    agent = Agent.objects.get(project=project, name="bot")
    v1, v2 = bundle("v1"), bundle("v2")
    assert (v1.agent, v1.run_count, v2.run_count) == (agent, 2, 1)
    assert v1.first_seen < v1.last_seen < v2.first_seen == v2.last_seen
    assert agent.first_seen == v1.first_seen and agent.last_seen == v2.last_seen


def test_the_automatic_baseline_is_the_previous_bundle_in_the_same_environment():
    project = make_project()
    run(project, "v1", hours_ago=5)
    run(project, "v1", hours_ago=4, environment="staging")
    run(project, "v2", hours_ago=3, environment="staging")
    run(project, "v3", hours_ago=1)

    record()

    assert bundle("v1").baseline is None
    assert bundle("v2", "staging").baseline == bundle("v1", "staging")
    assert bundle("v3").baseline == bundle("v1")


def test_a_later_pass_counts_new_runs_and_moves_the_baseline_to_a_new_bundle():
    project = make_project()
    run(project, "v1", hours_ago=5)
    run(project, "v2", hours_ago=3)
    record()

    run(project, "v2", hours_ago=2)
    run(project, "v3", hours_ago=1)
    result = record()

    assert result.since is not None
    assert (bundle("v2").run_count, bundle("v3").baseline) == (2, bundle("v2"))
    assert bundles_record(since=timezone.now()).bundles == 0  # only runs changed since


def test_a_chosen_baseline_stays_until_reset():
    project = make_project()
    for name, hours in (("v1", 5), ("v2", 3), ("v3", 1)):
        run(project, name, hours_ago=hours)
    record()

    chosen = bundle_set_baseline(bundle=bundle("v3"), baseline=bundle("v1"))
    run(project, "v3", hours_ago=0.5)
    record()

    assert chosen.baseline_set_by == Bundle.SetBy.USER
    assert bundle("v3").baseline == bundle("v1")
    reset = bundle_set_baseline(bundle=bundle("v3"), baseline=None)
    assert (reset.baseline, reset.baseline_set_by) == (bundle("v2"), Bundle.SetBy.AUTO)


def test_a_baseline_must_be_another_bundle_of_the_same_agent():
    project = make_project()
    run(project, "v1", hours_ago=2)
    run(project, "w1", hours_ago=1, agent="other")
    record()

    with pytest.raises(ValueError, match="same agent"):
        bundle_set_baseline(bundle=bundle("v1"), baseline=bundle("w1"))
    with pytest.raises(ValueError, match="its own baseline"):
        bundle_set_baseline(bundle=bundle("v1"), baseline=bundle("v1"))


def test_projects_keep_their_own_agents():
    first, second = make_project(), make_project()
    run(first, "v1", hours_ago=1)
    run(second, "v1", hours_ago=1)

    record()

    assert Agent.objects.filter(name="bot").count() == 2
    assert set(Bundle.objects.values_list("project", flat=True)) == {first.pk, second.pk}
