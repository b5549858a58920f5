"""The eval runs API, under /api/v1/projects/<slug>/ (personal tokens or a session), for `agentops eval`.

- eval-runs/                 GET the project's eval runs, newest first (`set`, `bundle` filter; `limit`
                             1-200, default 50); POST {"set", "version"? (null: current), "bundle",
                             "baseline"?, "repeat"? (1-10, default 1), "gate"? (agentops.goldens.gate)}
                             starts one (201): the run and its `cases` [{"case_key", "input"}] to run.
- eval-runs/<id>/            GET the run with its `cases` (attempts, outcomes, `run_url`s), verdict,
                             reasons and metrics.
- eval-runs/<id>/results/    POST [{"case_key", "attempt"? (1), "output"?, "trace_id"? (hex)}, ...]
                             records attempts (resubmitting one replaces it): {"received", "submitted",
                             "expected"}. 409 once the run is done. Without a trace id, the attempt's
                             run is the one tagged with it (agentops.goldens.eval_traces).
- eval-runs/<id>/score/      POST {"final"?: bool} scores what has landed: 202 {"state", "waiting":
                             [{"case_key", "attempt", "waiting_for": "result"|"trace"}] (the first 100),
                             "waiting_count"} while attempts wait, else 200 with the finished run.

Who may: Viewers read (without outputs and the scorers' reasons); creating, submitting and scoring
need "manage golden sets". Another tenant's project and a run of another project are 404.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.goldens import eval_selectors, eval_services, selectors
from agentops.goldens.eval_models import EvalRun
from agentops.goldens.eval_presenters import cases_dicts, eval_run_dict
from agentops.goldens.validation import GoldenConflict, GoldenError
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
WAITING_SHOWN = 100
_OBJECT = inline_serializer("EvalRunObject", fields={"data": serializers.JSONField()})


def _error(exc: GoldenError) -> Response:
    code = status.HTTP_409_CONFLICT if isinstance(exc, GoldenConflict) else status.HTTP_400_BAD_REQUEST
    return Response({exc.field: [exc.message]}, status=code)


class _EvalAPIView(ProjectAPIView):
    def run_url(self, trace_hex: str) -> str:
        path = reverse("run_replay", kwargs={"slug": self.project.slug, "trace_id": trace_hex})
        return self.request.build_absolute_uri(path)

    def eval_run(self, eval_run_id: int) -> EvalRun:
        found = eval_selectors.project_eval_run(self.project, eval_run_id)
        if found is None:
            raise NotFound("No such eval run in this project")
        return found

    def summary(self, eval_run: EvalRun) -> dict[str, Any]:
        return eval_run_dict(eval_run, payloads=self.payloads, run_url=self.run_url)

    def detail(self, eval_run: EvalRun) -> dict[str, Any]:
        keys: list[str] = []
        if eval_run.golden_set is not None:
            keys = list(
                selectors.cases_at(eval_run.golden_set, eval_run.set_version).values_list("case_key", flat=True)
            )
        results = list(eval_selectors.results(eval_run))
        cases = cases_dicts(eval_run, results, keys, payloads=self.payloads, run_url=self.run_url)
        return {**self.summary(eval_run), "cases": cases}


class EvalRunList(_EvalAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "POST": Perm.MANAGE_GOLDENS}

    @extend_schema(
        parameters=[
            OpenApiParameter("set", str, description="a golden set's name"),
            OpenApiParameter("bundle", str, description="the bundle evaluated"),
            OpenApiParameter("limit", int, description=f"1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}"),
        ],
        responses=_OBJECT,
        operation_id="v1_projects_eval_runs_list",
        summary="Eval runs of a project, newest first",
    )
    def get(self, request: Request, slug: str) -> Response:
        params = request.query_params
        raw = params.get("limit") or str(DEFAULT_LIMIT)
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ValidationError({"limit": [f"Give a number from 1 to {MAX_LIMIT}."]})
        runs = eval_selectors.project_eval_runs(
            self.project, set_name=params.get("set", ""), bundle=params.get("bundle", "")
        )
        return Response({"results": [self.summary(r) for r in runs[: int(raw)]]})

    @extend_schema(request=_OBJECT, responses={201: _OBJECT}, summary="Start an eval run of a bundle on a golden set")
    def post(self, request: Request, slug: str) -> Response:
        try:
            created = eval_services.eval_create(project=self.project, user=request.user, data=request.data)
        except GoldenError as exc:
            return _error(exc)
        cases = [{"case_key": c.case_key, **({"input": c.input} if self.payloads else {})} for c in created.cases]
        return Response({**self.summary(created.eval_run), "cases": cases}, status=status.HTTP_201_CREATED)


class EvalRunDetail(_EvalAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(responses=_OBJECT, summary="One eval run with its cases, verdict and reasons")
    def get(self, request: Request, slug: str, eval_run_id: int) -> Response:
        return Response(self.detail(self.eval_run(eval_run_id)))


class EvalRunResults(_EvalAPIView):
    required_perms = {"POST": Perm.MANAGE_GOLDENS}

    @extend_schema(request=_OBJECT, responses=_OBJECT, summary="Submit attempts' outputs and trace ids")
    def post(self, request: Request, slug: str, eval_run_id: int) -> Response:
        try:
            done = eval_services.results_submit(eval_run=self.eval_run(eval_run_id), data=request.data)
        except GoldenError as exc:
            return _error(exc)
        return Response({"received": done.received, "submitted": done.submitted, "expected": done.expected})


class EvalRunScore(_EvalAPIView):
    required_perms = {"POST": Perm.MANAGE_GOLDENS}

    @extend_schema(
        request=_OBJECT,
        responses={200: _OBJECT, 202: _OBJECT},
        summary="Score what has landed; the verdict once nothing waits",
    )
    def post(self, request: Request, slug: str, eval_run_id: int) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        final = body.get("final", False)
        if not isinstance(final, bool):
            raise ValidationError({"final": ["Give true or false."]})
        scored = eval_services.eval_score(eval_run=self.eval_run(eval_run_id), user=request.user, final=final)
        if scored.waiting:
            waiting = {
                "id": scored.eval_run.pk,
                "state": scored.eval_run.state,
                "waiting": scored.waiting[:WAITING_SHOWN],
                "waiting_count": len(scored.waiting),
            }
            return Response(waiting, status=status.HTTP_202_ACCEPTED)
        return Response(self.detail(scored.eval_run))
