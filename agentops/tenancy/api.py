"""REST API of tenancy.

- GET /api/v1/projects/     the projects the caller may see. Authenticated by session or
                            `Authorization: Bearer aop_...` (a personal API token, which acts with its
                            user's roles). Anonymous callers and revoked tokens get 401, ingest keys
                            (which read nothing) 403.
- GET /api/v1/ingest-key/   for agents: the project and prefix of the ingest key sent
                            (`Authorization: Bearer aok_...` or `x-api-key`), to check a key before
                            exporting with it. 401 for a wrong or revoked key, 403 for anyone else.
- GET /api/v1/projects/<slug>/audit/?format=jsonl|csv&since=&until=
                            the project's audit log, oldest first, streamed (see
                            agentops.tenancy.audit_export). Admins only: anyone else gets 404, a bad
                            parameter 400 naming it.
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentops.tenancy import selectors
from agentops.tenancy.access import ProjectAccess
from agentops.tenancy.audit_export import FORMATS, ExportError, export_filters, export_lines
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.permissions import IsIngestKey
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


class IngestKeyScheme(OpenApiAuthenticationExtension):
    target_class = "agentops.tenancy.authentication.IngestKeyAuthentication"
    name = "ingestKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A project's ingest key (aok_...), for the endpoints made for agents.",
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
    def get_permissions(self, item: ProjectAccess) -> list[str]:
        return [p.value for p in Perm if p in item.perms]


class ProjectList(APIView):
    @extend_schema(responses=ProjectSerializer(many=True), summary="Projects the caller may see")
    def get(self, request: Request) -> Response:
        items = selectors.visible_projects(request.user)
        return Response(ProjectSerializer(items, many=True).data)


class IngestKeyIdentitySerializer(serializers.Serializer):
    project = serializers.SlugField(source="project.slug")
    organization = serializers.SlugField(source="project.organization.slug")
    key_prefix = serializers.CharField(source="key.prefix")
    key_name = serializers.CharField(source="key.name")


class IngestKeyIdentity(APIView):
    allow_ingest_keys = True
    permission_classes = [IsIngestKey]

    @extend_schema(responses=IngestKeyIdentitySerializer, summary="The project of the ingest key sent")
    def get(self, request: Request) -> Response:
        return Response(IngestKeyIdentitySerializer(request.user).data)


class AuditExport(ProjectAPIView):
    required_perms = {"GET": Perm.ADMIN_PROJECT}

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # `?format=` is this endpoint's own parameter, not DRF's renderer override: errors render as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS), description="jsonl (default) or csv"),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="events at or after (ISO 8601)"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="events before (ISO 8601)"),
        ],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR},
        summary="Export the project's audit log",
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        try:
            filters = export_filters(request.query_params)
        except ExportError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        response = StreamingHttpResponse(export_lines(self.project, filters), content_type=FORMATS[filters.format])
        name = f"audit-{self.project.slug}.{filters.format}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response
