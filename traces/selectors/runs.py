"""Reads of runs and steps, for the API and the pages; the project comes from the tenancy chokepoint."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from agentops.tenancy.models import Project
from traces.models import Run, Step

# Payload columns are not even read for callers who may not see them.
PAYLOAD_FIELDS = ("input", "output", "attributes", "events")


def project_runs(project: Project) -> QuerySet[Run]:
    return Run.objects.filter(project=project)


def project_run(project: Project, trace_id: uuid.UUID) -> Run | None:
    return Run.objects.filter(project=project, trace_id=trace_id).first()


def run_steps(project: Project, trace_id: uuid.UUID, *, payloads: bool) -> QuerySet[Step]:
    steps = Step.objects.filter(project=project, trace_id=trace_id).order_by("start_time", "span_id")
    return steps if payloads else steps.defer(*PAYLOAD_FIELDS)


def run_step(project: Project, trace_id: uuid.UUID, span_id: int, *, payloads: bool) -> Step | None:
    steps = Step.objects.filter(project=project, trace_id=trace_id, span_id=span_id)
    return (steps if payloads else steps.defer(*PAYLOAD_FIELDS)).first()
