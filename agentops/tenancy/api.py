"""REST API of tenancy: GET /api/v1/projects/ lists the projects the caller may see.

Authenticated by session or `Authorization: Bearer aop_...` (a personal API token, which acts with its
user's roles). Anonymous callers, revoked tokens and ingest keys (which read nothing) get 401.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentops.tenancy import selectors
from agentops.tenancy.roles import ROLE_CHOICES, Perm


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes personal API tokens in the OpenAPI schema, so the docs page can send one."""

    target_class = "agentops.tenancy.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (aop_...), created on the API tokens page.",
        }


class OrganizationSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class ProjectSerializer(serializers.Serializer):
    slug = serializers.SlugField(source="project.slug")
    name = serializers.CharField(source="project.name")
    organization = OrganizationSerializer(source="project.organization")
    role = serializers.ChoiceField(
        choices=ROLE_CHOICES, allow_null=True, help_text="The caller's role; null for a superuser who is no member."
    )
    permissions = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=[p.value for p in Perm])))
    def get_permissions(self, item: selectors.ProjectAccess) -> list[str]:
        return [p.value for p in Perm if p in item.perms]


class ProjectList(APIView):
    @extend_schema(responses=ProjectSerializer(many=True), summary="Projects the caller may see")
    def get(self, request: Request) -> Response:
        items = selectors.visible_projects(request.user)
        return Response(ProjectSerializer(items, many=True).data)
