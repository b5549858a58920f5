"""The retention API, for a project's admins (anyone else, and another tenant, gets 404):

- GET/PATCH /api/v1/projects/<slug>/retention/   {"payload_days", "step_days", "run_days", "defaults"};
  PATCH takes any of the three (days >= 1, or null for ever), keeping payload <= step <= run; 400
  {"field", "detail"} otherwise, and nothing changes. Audited with before and after.
- GET/POST/DELETE /api/v1/projects/<slug>/pins/  the runs an admin keeps whatever the policy says.
  POST {"trace_id": hex, "reason": ...} -> 201 with the pin (200 when it was pinned already); a trace id
  that is no run of the project is 400. DELETE {"trace_id": hex} (or ?trace_id=) -> 204, 404 if not
  pinned. Audited.
- GET/POST /api/v1/projects/<slug>/erasures/  POST {"user_id": ..., "reason": ...} deletes every run of
  that end user with its steps and log records, whatever pins them; 201 with what was deleted
  ({"deleted": {"runs", "steps", "log_records"}}). GET lists past erasures. Audited with who and why.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.retention import erasure, pins, policy, selectors
from agentops.retention.errors import RetentionError
from agentops.retention.presenters import erasure_dict, pin_dict, policy_dict
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm

ADMIN = Perm.ADMIN_PROJECT


def _bad(error: RetentionError) -> Response:
    return Response({"field": error.field, "detail": error.message}, status=400)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise RetentionError("body", "must be a JSON object")
    return dict(request.data)


class RetentionSettings(ProjectAPIView):
    required_perms = {"GET": ADMIN, "PATCH": ADMIN}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The project's retention policy (admins)")
    def get(self, request: Request, slug: str) -> Response:
        return Response(policy_dict(policy.retention_policy(self.project)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Change the retention policy")
    def patch(self, request: Request, slug: str) -> Response:
        try:
            found = policy.retention_policy_update(project=self.project, data=_body(request), actor=request.user)
        except RetentionError as error:
            return _bad(error)
        return Response(policy_dict(found))


class PinList(ProjectAPIView):
    required_perms = {"GET": ADMIN, "POST": ADMIN, "DELETE": ADMIN}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The runs admins pinned")
    def get(self, request: Request, slug: str) -> Response:
        return Response({"results": [pin_dict(p) for p in selectors.pins_of(self.project)]})

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Pin a run")
    def post(self, request: Request, slug: str) -> Response:
        try:
            data = _body(request)
            trace_id = pins.parse_trace_id(data.get("trace_id"))
            already = pins.is_pinned(self.project, trace_id)
            pin = pins.pin_add(
                project=self.project, trace_id=trace_id, reason=data.get("reason", ""), actor=request.user
            )
        except RetentionError as error:
            return _bad(error)
        return Response(pin_dict(pin), status=200 if already else 201)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={204: None}, summary="Unpin a run")
    def delete(self, request: Request, slug: str) -> Response:
        try:
            data = request.data if isinstance(request.data, dict) and request.data else request.query_params
            trace_id = pins.parse_trace_id(data.get("trace_id"))
        except RetentionError as error:
            return _bad(error)
        if not pins.pin_remove(project=self.project, trace_id=trace_id, actor=request.user):
            raise NotFound("That run is not pinned")
        return Response(status=204)


class ErasureList(ProjectAPIView):
    required_perms = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Past erasures of end users' data")
    def get(self, request: Request, slug: str) -> Response:
        return Response({"results": [erasure_dict(e) for e in selectors.erasures_of(self.project)]})

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Erase an end user's runs")
    def post(self, request: Request, slug: str) -> Response:
        try:
            data = _body(request)
            done = erasure.erase_user(
                project=self.project, user_id=data.get("user_id"), reason=data.get("reason"), actor=request.user
            )
        except RetentionError as error:
            return _bad(error)
        return Response(erasure_dict(done), status=201)
