"""The approval settings of a project over the API, for its admins:
GET/PATCH /api/v1/projects/<slug>/approvals/settings/

GET answers {"default_expires_in", "min_expires_in", "max_expires_in", "callback_secret"} (the secret
is null until the first callback or rotation makes one). PATCH takes `default_expires_in` (seconds,
within min..max) and/or `rotate_callback_secret: true`, and answers as GET. Admins only: anyone else,
and another tenant, gets 404; a bad or unknown field is 400 naming it, and nothing is changed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.approvals import policy
from agentops.approvals.services import MAX_EXPIRES_IN, MIN_EXPIRES_IN, ApprovalInvalid
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

FIELDS = frozenset({"default_expires_in", "rotate_callback_secret"})


def _settings(project: Project) -> dict[str, Any]:
    found = policy.approval_settings(project)
    return {
        "default_expires_in": found.default_expires_in,
        "min_expires_in": MIN_EXPIRES_IN,
        "max_expires_in": MAX_EXPIRES_IN,
        "callback_secret": found.callback_secret or None,
    }


class ProjectApprovalSettings(ProjectAPIView):
    required_perms = {"GET": Perm.ADMIN_PROJECT, "PATCH": Perm.ADMIN_PROJECT}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The project's approval settings (admins)")
    def get(self, request: Request, slug: str) -> Response:
        return Response(_settings(self.project))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Change approval settings")
    def patch(self, request: Request, slug: str) -> Response:
        data = request.data
        if not isinstance(data, dict):
            return Response({"field": "body", "detail": "must be a JSON object"}, status=400)
        unknown = sorted(set(data) - FIELDS)
        if unknown:
            return Response({"field": unknown[0], "detail": "is not an approval setting"}, status=400)
        rotate = data.get("rotate_callback_secret", False)
        if not isinstance(rotate, bool):
            return Response({"field": "rotate_callback_secret", "detail": "must be true or false"}, status=400)
        try:
            with transaction.atomic():
                if "default_expires_in" in data:
                    policy.approval_settings_update(
                        project=self.project, default_expires_in=data["default_expires_in"], actor=request.user
                    )
                if rotate:
                    policy.callback_secret_rotate(project=self.project, actor=request.user)
        except ApprovalInvalid as error:
            return Response({"field": error.field, "detail": error.message}, status=400)
        return Response(_settings(self.project))
