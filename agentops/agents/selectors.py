"""Reads of agents and bundles; the project comes from the tenancy chokepoint."""

from __future__ import annotations

from django.db.models import QuerySet

from agentops.agents.models import Agent, Bundle
from agentops.tenancy.models import Project


def project_agent(project: Project, name: str) -> Agent | None:
    return Agent.objects.filter(project=project, name=name).first()


def project_bundles(project: Project, *, agent: str | None = None) -> QuerySet[Bundle]:
    """The project's bundles with their agent and baseline, newest first."""
    bundles = Bundle.objects.filter(project=project).select_related("agent", "baseline")
    if agent is not None:
        bundles = bundles.filter(agent__name=agent)
    return bundles.order_by("agent__name", "environment", "-first_seen", "-id")


def agent_bundle(
    project: Project, agent: str, name: str, environment: str | None = None, *, with_baseline: bool = False
) -> Bundle | None:
    """The bundle `name` of `agent`; without an environment, the one seen most recently (of those with a
    baseline, when asked)."""
    bundles = Bundle.objects.filter(project=project, agent__name=agent, name=name).select_related("agent", "baseline")
    if environment is not None:
        bundles = bundles.filter(environment=environment)
    if with_baseline:
        bundles = bundles.filter(baseline__isnull=False)
    return bundles.order_by("-last_seen", "-id").first()
