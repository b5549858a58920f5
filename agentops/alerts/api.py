"""The canary verdict for CD systems, under /api/v1/projects/<slug>/.

GET canary/?agent=<name>&candidate=<bundle>[&baseline=<bundle>][&since=<ISO time>][&environment=<env>][&gate=1]
  200 {"verdict": "pass|marginal|fail|inconclusive", "score", "baseline", "candidate",
       "metrics": [{"name", "verdict", "baseline_n", "candidate_n", "baseline_value", "candidate_value",
                    "effect", "p_value", "reason"}], ...}
  With gate=1 the same body answers 200 only on "pass" and 412 otherwise, for webhooks that read the
  status alone (Flagger). 400 for a missing or malformed parameter; 404 for another tenant's project,
  or an agent or bundle the project does not have (the body says which). Personal token or session.
"""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.alerts.canary import CanaryInvalid, CanaryNotFound, canary_verdict
from agentops.alerts.stats import Verdict
from agentops.tenancy.roles import Perm
from traces.api import ProjectAPIView

_PARAMS = [
    OpenApiParameter("agent", str, required=True, description="the agent's name"),
    OpenApiParameter("candidate", str, required=True, description="the bundle to judge"),
    OpenApiParameter("baseline", str, description="the bundle to judge against (default: the candidate's baseline)"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="compare runs that started at or after"),
    OpenApiParameter("environment", str, description="compare runs of this environment only"),
    OpenApiParameter("gate", bool, description="1: answer 412 unless the verdict is pass"),
]
_BODY = inline_serializer("CanaryVerdict", fields={"verdict": serializers.CharField()})


def _since(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationError(
            {
                "detail": f"since must be an ISO 8601 date-time with a time zone, such as 2026-11-22T10:00:00Z, not {raw!r}"
            }
        )
    return value


class CanaryVerdict(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(parameters=_PARAMS, responses={200: _BODY, 412: _BODY}, summary="Canary verdict of a bundle")
    def get(self, request: Request, slug: str) -> Response:
        params = request.query_params
        missing = [name for name in ("agent", "candidate") if not params.get(name)]
        if missing:
            raise ValidationError({"detail": f"missing parameter: {', '.join(missing)}"})
        try:
            report = canary_verdict(
                self.project,
                agent=params["agent"],
                candidate=params["candidate"],
                baseline=params.get("baseline") or None,
                environment=params.get("environment") or None,
                since=_since(params.get("since")),
            )
        except CanaryNotFound as exc:
            raise NotFound(str(exc)) from exc
        except CanaryInvalid as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        gate = params.get("gate", "").lower() in {"1", "true", "yes"}
        status = 412 if gate and report.judgement.verdict is not Verdict.PASS else 200
        return Response(report.as_dict(), status=status)
