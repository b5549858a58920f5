"""Agents and their bundles (versions) as things, recorded from the runs.

Runs carry the agent and bundle as strings (traces.models.Run); these rows are derived from them by a
periodic job (agentops.agents.services.bundles_record), never written by ingest, so that storing spans
costs nothing more. A bundle is one (agent, bundle string, environment): the same version deployed to
staging and production has a baseline in each.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agentops.tenancy.models import Project


class Agent(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="agent_project_name")]

    def __str__(self) -> str:
        return self.name


class Bundle(models.Model):
    class SetBy(models.TextChoices):
        AUTO = "auto"
        USER = "user"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="bundles")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="bundles")
    name = models.CharField(max_length=200)  # the runs' bundle string
    environment = models.CharField(max_length=100, blank=True, default="")
    # Of the bundle's runs' start times: exact, recomputed from the runs whenever they change.
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    run_count = models.BigIntegerField(default=0)
    # By default (AUTO) the agent's previous bundle by first_seen in the same environment, kept up to date
    # by the recorder; a user's choice (USER) is left alone until reset.
    baseline = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    baseline_set_by = models.CharField(max_length=8, choices=SetBy.choices, default=SetBy.AUTO)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "name", "environment"], name="bundle_agent_name_environment")
        ]
        indexes = [models.Index(fields=["project", "agent", "environment", "first_seen"], name="bundle_agent_order")]

    def __str__(self) -> str:
        return f"{self.name} ({self.environment})" if self.environment else self.name
