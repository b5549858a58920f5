"""The step caps API, for admins (personal token or session), under /api/v1/projects/<slug>/step-caps/:

- GET  ""          {"results": [cap, ...]}, by agent.
- POST ""          create (agentops.budgets.caps.FIELDS): 201 with the cap; 400 {"field", "detail"} naming
                   the bad field (one cap per agent: a second is a 400 on `agent`).
- GET/PATCH/DELETE <id>/   one cap; another project's id is 404.
A cap is {"id", "agent", "max_steps", "max_tool_calls", "max_tokens", "max_cost_usd", "created_by",
"created_at", "updated_at"}; a limit left out is null (no cap on it).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.budgets import caps, caps_selectors
from agentops.budgets.api import _error, _person
from agentops.budgets.errors import BudgetError
from agentops.budgets.models import StepCap
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm


def cap_dict(cap: StepCap) -> dict[str, Any]:
    return {
        "id": cap.pk,
        "agent": cap.agent,
        "max_steps": cap.max_steps,
        "max_tool_calls": cap.max_tool_calls,
        "max_tokens": cap.max_tokens,
        "max_cost_usd": None if cap.max_cost_usd is None else float(cap.max_cost_usd),
        "created_by": cap.created_by.email if cap.created_by else None,
        "created_at": cap.created_at.isoformat(),
        "updated_at": cap.updated_at.isoformat(),
    }


class StepCapList(ProjectAPIView):
    required_perms = {"GET": Perm.ADMIN_PROJECT, "POST": Perm.ADMIN_PROJECT}

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        operation_id="v1_projects_step_caps_list",
        summary="The project's step caps, per agent",
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response({"results": [cap_dict(c) for c in caps_selectors.caps_of_project(self.project)]})

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Create a step cap")
    def post(self, request: Request, slug: str) -> Response:
        try:
            cap = caps.step_cap_create(project=self.project, data=request.data, user=_person(request))
        except BudgetError as error:
            return _error(error, "No such step cap")
        return Response(cap_dict(cap), status=201)


class StepCapDetail(ProjectAPIView):
    required_perms = {"GET": Perm.ADMIN_PROJECT, "PATCH": Perm.ADMIN_PROJECT, "DELETE": Perm.ADMIN_PROJECT}

    def cap(self, cap_id: int) -> StepCap:
        cap = caps_selectors.cap_in_project(self.project, cap_id)
        if cap is None:
            raise NotFound("No such step cap")
        return cap

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A step cap")
    def get(self, request: Request, slug: str, cap_id: int) -> Response:
        return Response(cap_dict(self.cap(cap_id)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Change a step cap")
    def patch(self, request: Request, slug: str, cap_id: int) -> Response:
        try:
            cap = caps.step_cap_update(cap=self.cap(cap_id), data=request.data, user=_person(request))
        except BudgetError as error:
            return _error(error, "No such step cap")
        return Response(cap_dict(cap))

    @extend_schema(request=None, responses={204: None}, summary="Delete a step cap")
    def delete(self, request: Request, slug: str, cap_id: int) -> Response:
        caps.step_cap_delete(cap=self.cap(cap_id), user=_person(request))
        return Response(status=204)
