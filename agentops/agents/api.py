"""Bundles of a project and their baselines, under /api/v1/projects/<slug>/.

- bundles/[?agent=<name>]   GET: every bundle with its agent, environment, first and last seen, run
                            count and baseline (id and name, and whether a user chose it)
- bundles/<id>/             GET: one bundle. PATCH {"baseline": <bundle id or name> | null}: pin the
                            baseline to another bundle of the same agent (a name is looked up in the
                            bundle's environment), or null to go back to the automatic one. PATCH needs
                            the "manage alerts" permission (Engineer and above): others get 403.

Another tenant's project or bundle answers 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.agents import selectors
from agentops.agents.models import Bundle
from agentops.agents.services import bundle_set_baseline
from agentops.tenancy.roles import Perm
from traces.api import ProjectAPIView

_BUNDLE = inline_serializer(
    "Bundle",
    fields={
        "id": serializers.IntegerField(),
        "agent": serializers.CharField(),
        "name": serializers.CharField(),
        "environment": serializers.CharField(),
        "first_seen": serializers.DateTimeField(),
        "last_seen": serializers.DateTimeField(),
        "run_count": serializers.IntegerField(),
        "baseline": serializers.JSONField(),
        "baseline_set_by": serializers.CharField(),
    },
)
_BASELINE = inline_serializer("BundleBaseline", fields={"baseline": serializers.JSONField(allow_null=True)})


def bundle_dict(bundle: Bundle) -> dict[str, Any]:
    baseline = bundle.baseline
    return {
        "id": bundle.pk,
        "agent": bundle.agent.name,
        "name": bundle.name,
        "environment": bundle.environment,
        "first_seen": bundle.first_seen,
        "last_seen": bundle.last_seen,
        "run_count": bundle.run_count,
        "baseline": None if baseline is None else {"id": baseline.pk, "name": baseline.name},
        "baseline_set_by": bundle.baseline_set_by,
    }


class BundleList(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(
        parameters=[OpenApiParameter("agent", str)],
        operation_id="v1_projects_bundles_list",
        responses=_BUNDLE,
        summary="Bundles of a project with baselines",
    )
    def get(self, request: Request, slug: str) -> Response:
        bundles = selectors.project_bundles(self.project, agent=request.query_params.get("agent") or None)
        return Response({"results": [bundle_dict(b) for b in bundles]})


class BundleDetail(ProjectAPIView):
    # Setting a baseline is Engineer and above (as are alert rules): a Viewer gets the chokepoint's 404.
    required_perms = {"GET": Perm.VIEW_PROJECT, "PATCH": Perm.MANAGE_ALERTS}

    def _bundle(self, bundle_id: int) -> Bundle:
        bundle = selectors.project_bundles(self.project).filter(pk=bundle_id).first()
        if bundle is None:
            raise NotFound("No such bundle in this project")
        return bundle

    @extend_schema(responses=_BUNDLE, summary="One bundle")
    def get(self, request: Request, slug: str, bundle_id: int) -> Response:
        return Response(bundle_dict(self._bundle(bundle_id)))

    @extend_schema(request=_BASELINE, responses=_BUNDLE, summary="Set or reset a bundle's baseline")
    def patch(self, request: Request, slug: str, bundle_id: int) -> Response:
        bundle = self._bundle(bundle_id)
        if not isinstance(request.data, dict) or "baseline" not in request.data:
            raise ValidationError({"baseline": "give a bundle id or name, or null for the automatic baseline"})
        wanted = request.data["baseline"]
        baseline = None
        if wanted is not None:
            same_agent = selectors.project_bundles(self.project).filter(agent=bundle.agent)
            if isinstance(wanted, int) and not isinstance(wanted, bool):
                baseline = same_agent.filter(pk=wanted).first()
            elif isinstance(wanted, str):
                baseline = same_agent.filter(name=wanted, environment=bundle.environment).first()
            if baseline is None:
                raise ValidationError({"baseline": f"agent {bundle.agent.name!r} has no bundle {wanted!r}"})
        try:
            bundle = bundle_set_baseline(bundle=bundle, baseline=baseline, actor=request.user)
        except ValueError as exc:
            raise ValidationError({"baseline": str(exc)}) from exc
        return Response(bundle_dict(self._bundle(bundle.pk)))
