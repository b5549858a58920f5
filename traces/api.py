"""REST API for runs and steps, under /api/v1/projects/<slug>/.

- runs/                              runs of the project, newest first; filters (see traces.filters) and
                                     keyset pagination (`cursor` from the previous page's `next`)
- runs/<trace_id>/                   one run with its steps as a tree, and its approval requests
- runs/<trace_id>/steps/<span_id>/   one step with everything known about it, its log records
                                     (POST /v1/logs) in `logs` beside its span `events` (see
                                     traces.presenters)

Ids are lowercase hex as in OTLP/JSON. Payload fields (inputs, outputs, tool arguments, raw attributes
and events, previews) appear only for callers holding the "view payloads" permission. Another tenant's
project, run or step answers 404 (agentops.tenancy.endpoints.ProjectAPIView).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.approvals.presenters import approval_dict
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm
from traces import selectors
from traces.filters import FilterError, page, parse_cursor, parse_filters, parse_limit
from traces.ids import span_from_hex, trace_from_hex
from traces.presenters import log_dict, run_dict, step_dict, step_tree, with_logs
from traces.selectors.replay import run_approvals, step_logs

_RUN_FILTERS = [
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="runs that started at or after"),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="runs that started before"),
    OpenApiParameter("status", str, enum=["ok", "error", "unfinished"]),
    OpenApiParameter("approval", str, enum=["pending"], description="runs waiting for an approval decision"),
    *(OpenApiParameter(name, str) for name in ("agent", "bundle", "environment", "model", "tool", "session", "user")),
    OpenApiParameter("min_cost", float, description="US dollars"),
    OpenApiParameter("min_duration_ms", int),
    OpenApiParameter("max_cost", float, description="US dollars"),
    OpenApiParameter("max_duration_ms", int, description="finished runs that took at most this long"),
    OpenApiParameter(
        "q", str, description="text in the run's input or output preview (3+ characters; payload permission)"
    ),
    OpenApiParameter("limit", int, description="1 to 500, default 50"),
    OpenApiParameter("cursor", str, description="the `next` cursor of the previous page"),
]
_ANY = inline_serializer("Any", fields={"data": serializers.JSONField()})


class RunList(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(parameters=_RUN_FILTERS, responses=_ANY, summary="Runs of a project, newest first")
    def get(self, request: Request, slug: str) -> Response:
        project, payloads = self.project, self.payloads
        try:
            filters = parse_filters(request.query_params, payloads=payloads)
            cursor = parse_cursor(request.query_params)
            limit = parse_limit(request.query_params)
        except FilterError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        runs, next_cursor = page(filters.apply(selectors.project_runs(project)), cursor, limit)
        next_url = None
        if next_cursor:
            params = request.query_params.copy()
            params["cursor"] = next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": [run_dict(r, payloads=payloads) for r in runs], "next": next_url})


def _trace(trace_id: str) -> Any:
    try:
        return trace_from_hex(trace_id)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc


class RunDetail(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(responses=_ANY, summary="One run with its steps as a tree")
    def get(self, request: Request, slug: str, trace_id: str) -> Response:
        project, payloads = self.project, self.payloads
        run = selectors.project_run(project, _trace(trace_id))
        if run is None:
            raise NotFound("No such run in this project")
        steps = selectors.run_steps(project, run.trace_id, payloads=payloads)
        data = run_dict(run, payloads=payloads)
        data["steps"] = step_tree([step_dict(s, payloads=payloads) for s in steps])
        # Beside the tree, not in it: each names the step that asked (span_id); the replay places them.
        approvals = run_approvals(project, run.trace_id, full=True)
        data["approvals"] = [approval_dict(a, payloads=payloads) for a in approvals]
        return Response(data)


class StepDetail(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(responses=_ANY, summary="One step with its inputs, outputs and attributes")
    def get(self, request: Request, slug: str, trace_id: str, span_id: str) -> Response:
        project, payloads = self.project, self.payloads
        try:
            span = span_from_hex(span_id)
        except ValueError as exc:
            raise NotFound(str(exc)) from exc
        step = selectors.run_step(project, _trace(trace_id), span, payloads=payloads)
        if step is None:
            raise NotFound("No such step in this run")
        records = step_logs(project, step.trace_id, [step.span_id], payloads=payloads).get(step.span_id, [])
        logs = [log_dict(r, payloads=payloads) for r in records]
        return Response(with_logs(step_dict(step, payloads=payloads, full=True), logs))
