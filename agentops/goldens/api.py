"""The golden sets API, under /api/v1/projects/<slug>/ (personal tokens or a session).

- golden-sets/                      GET the project's sets (name, description, current `version`,
                                    `case_count`); POST {"name", "description"?} creates one (201; 409
                                    when the project has a set of that name, in any letter case).
- golden-sets/<name>/               GET the set at its current version, or `?version=N` (0 is the empty
                                    set as created), with that version's `case_count` and what changed
                                    in it, and the set's `gate` (used by an eval run whose request
                                    names none); PATCH {"name"?, "description"?, "gate"?}; DELETE
                                    (204) with its cases.
- golden-sets/<name>/export/        GET a version's cases as JSON lines (streamed; `?version=N`).
- golden-sets/<name>/import/        POST JSON lines (agentops.goldens.jsonl): one new version for the
                                    whole import; {"version", "added", "edited", "unchanged"}.
- golden-sets/<name>/cases/         GET a version's cases (`?version=N`, `limit` 1-1000 (100),
                                    `cursor` from `next`); POST adds one (201): {"source_trace_id"?,
                                    "source_span_id"?, "input"? (else the source's), "expected_output"?,
                                    "assertions"?, "tags"?, "notes"?}.
- golden-sets/<name>/cases/<key>/   GET one case (`?version=N`); PATCH the fields given (input,
                                    expected_output, assertions, tags, notes); DELETE (204) removes it
                                    from the next version.

Each change to cases makes a new version (agentops.goldens.services); the answer says which.

Who may: Viewers read sets and cases without payloads (a case's input, expected output, notes and its
assertions' parameters); the export needs the payload permission; writes need "manage golden sets"
(Engineer and above). Another tenant's project, a set or case that does not exist, and a missing
permission are all 404. A bad field is 400 naming it (`assertions[2].value`, `line 3: input`).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.goldens import gate_settings, jsonl, selectors, services
from agentops.goldens.models import GoldenCase, GoldenSet
from agentops.goldens.presenters import case_dict, set_dict, version_dict
from agentops.goldens.validation import GoldenConflict, GoldenError
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_OBJECT = inline_serializer("GoldenObject", fields={"data": serializers.JSONField()})
_VERSION = OpenApiParameter("version", int, description="a past version (0: the empty set as created)")
_JSONL = "application/x-ndjson"


def _error(exc: GoldenError) -> Response:
    code = status.HTTP_409_CONFLICT if isinstance(exc, GoldenConflict) else status.HTTP_400_BAD_REQUEST
    return Response({exc.field: [exc.message]}, status=code)


class _GoldensAPIView(ProjectAPIView):
    """Sets only of the project the chokepoint resolved: another project's set is a 404 like a missing one."""

    def golden_set(self, name: str) -> GoldenSet:
        found = selectors.project_set(self.project, name)
        if found is None:
            raise NotFound("No such golden set in this project")
        return found

    def version(self, golden_set: GoldenSet) -> int:
        raw = self.request.query_params.get("version")
        if not raw:
            return golden_set.version
        if not raw.isdigit() or len(raw) > 9:
            raise ValidationError({"version": ["Give a version number (0 or more)."]})
        number = int(raw)
        if number > golden_set.version:
            raise NotFound(f"This set has versions 0 to {golden_set.version}")
        return number


class GoldenSetList(_GoldensAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "POST": Perm.MANAGE_GOLDENS}

    @extend_schema(responses=_OBJECT, operation_id="v1_projects_golden_sets_list", summary="Golden sets of a project")
    def get(self, request: Request, slug: str) -> Response:
        sets = selectors.project_sets(self.project).select_related("created_by")
        return Response({"results": [set_dict(s, case_count=s.case_count) for s in sets]})  # type: ignore[attr-defined]

    @extend_schema(request=_OBJECT, responses={201: _OBJECT}, summary="Create a golden set")
    def post(self, request: Request, slug: str) -> Response:
        try:
            golden_set = services.golden_set_create(project=self.project, user=request.user, data=request.data)
        except GoldenError as exc:
            return _error(exc)
        return Response(set_dict(golden_set, case_count=0), status=status.HTTP_201_CREATED)


class GoldenSetDetail(_GoldensAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "PATCH": Perm.MANAGE_GOLDENS, "DELETE": Perm.MANAGE_GOLDENS}

    def _shown(self, golden_set: GoldenSet, version: int) -> dict[str, Any]:
        count = selectors.case_count_at(golden_set, version)
        return {
            **set_dict(golden_set, case_count=count, version=version),
            "changes": version_dict(selectors.set_version(golden_set, version), version),
            "gate": golden_set.gate,
        }

    @extend_schema(parameters=[_VERSION], responses=_OBJECT, summary="A golden set at a version")
    def get(self, request: Request, slug: str, set_name: str) -> Response:
        golden_set = self.golden_set(set_name)
        return Response(self._shown(golden_set, self.version(golden_set)))

    @extend_schema(
        request=_OBJECT, responses=_OBJECT, summary="Rename a golden set, change its description or its gate"
    )
    def patch(self, request: Request, slug: str, set_name: str) -> Response:
        data = request.data
        fields = {k: v for k, v in data.items() if k != "gate"} if isinstance(data, dict) else data
        try:
            with transaction.atomic():  # all the fields given, or none
                golden_set = services.golden_set_update(
                    golden_set=self.golden_set(set_name), user=request.user, data=fields
                )
                if isinstance(data, dict) and "gate" in data:
                    golden_set = gate_settings.golden_set_gate_update(
                        golden_set=golden_set, user=request.user, gate=data["gate"]
                    )
        except GoldenError as exc:
            return _error(exc)
        return Response(self._shown(golden_set, golden_set.version))

    @extend_schema(responses={204: None}, summary="Delete a golden set with its cases and versions")
    def delete(self, request: Request, slug: str, set_name: str) -> Response:
        services.golden_set_delete(golden_set=self.golden_set(set_name), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GoldenSetExport(_GoldensAPIView):
    required_perms = {"GET": Perm.VIEW_PAYLOADS}

    @extend_schema(
        parameters=[_VERSION],
        responses={(200, _JSONL): OpenApiTypes.STR},
        summary="Export a version of a golden set as JSON lines",
    )
    def get(self, request: Request, slug: str, set_name: str) -> StreamingHttpResponse:
        golden_set = self.golden_set(set_name)
        version = self.version(golden_set)
        lines = jsonl.export_lines(selectors.iter_cases(golden_set, version))
        response = StreamingHttpResponse(lines, content_type=_JSONL)
        # Set names are [A-Za-z0-9._-] (agentops.goldens.validation): safe in the header as they are.
        response["Content-Disposition"] = f'attachment; filename="{golden_set.name}-v{version}.jsonl"'
        response["Cache-Control"] = "no-store"
        response["X-Golden-Set-Version"] = str(version)
        return response


class GoldenSetImport(_GoldensAPIView):
    required_perms = {"POST": Perm.MANAGE_GOLDENS}

    @extend_schema(
        request={_JSONL: OpenApiTypes.STR},
        responses={200: _OBJECT},
        summary="Import JSON lines into a golden set (one new version)",
    )
    def post(self, request: Request, slug: str, set_name: str) -> Response:
        golden_set = self.golden_set(set_name)
        try:
            parsed = jsonl.parse_import(request.body)
            result = services.cases_import(golden_set=golden_set, user=request.user, cases=parsed)
        except GoldenError as exc:
            return _error(exc)
        return Response(
            {"version": result.version, "added": result.added, "edited": result.edited, "unchanged": result.unchanged}
        )


def _limit(raw: str | None) -> int:
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError({"limit": [f"Give a number from 1 to {MAX_LIMIT}."]})
    return int(raw)


def _cursor(raw: str | None) -> int:
    if not raw:
        return 0
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationError({"cursor": ["Give the cursor of the previous page's next link."]})
    return int(raw)


class CaseList(_GoldensAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "POST": Perm.MANAGE_GOLDENS}

    @extend_schema(
        parameters=[
            _VERSION,
            OpenApiParameter("limit", int, description=f"1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}"),
            OpenApiParameter("cursor", str, description="the `next` cursor of the previous page"),
        ],
        responses=_OBJECT,
        operation_id="v1_projects_golden_sets_cases_list",
        summary="The cases of a golden set at a version",
    )
    def get(self, request: Request, slug: str, set_name: str) -> Response:
        golden_set = self.golden_set(set_name)
        version = self.version(golden_set)
        params = request.query_params
        limit, after = _limit(params.get("limit")), _cursor(params.get("cursor"))
        cases: list[GoldenCase] = list(selectors.cases_at(golden_set, version).filter(ordinal__gt=after)[: limit + 1])
        next_url = None
        if len(cases) > limit:
            cases = cases[:limit]
            query = params.copy()
            query["cursor"] = str(cases[-1].ordinal)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "version": version,
                "results": [case_dict(c, payloads=self.payloads) for c in cases],
                "next": next_url,
            }
        )

    @extend_schema(request=_OBJECT, responses={201: _OBJECT}, summary="Add a case (a new version)")
    def post(self, request: Request, slug: str, set_name: str) -> Response:
        golden_set = self.golden_set(set_name)
        try:
            case = services.case_add(
                golden_set=golden_set, user=request.user, data=request.data, payloads=self.payloads
            )
        except GoldenError as exc:
            return _error(exc)
        return Response({**case_dict(case, payloads=self.payloads), "version": case.added_in}, status=201)


class CaseDetail(_GoldensAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "PATCH": Perm.MANAGE_GOLDENS, "DELETE": Perm.MANAGE_GOLDENS}

    @extend_schema(parameters=[_VERSION], responses=_OBJECT, summary="One case of a golden set at a version")
    def get(self, request: Request, slug: str, set_name: str, case_key: str) -> Response:
        golden_set = self.golden_set(set_name)
        case = selectors.case_at(golden_set, case_key, self.version(golden_set))
        if case is None:
            raise NotFound("No such case in this version of the set")
        return Response(case_dict(case, payloads=self.payloads))

    @extend_schema(request=_OBJECT, responses=_OBJECT, summary="Edit a case (a new version)")
    def patch(self, request: Request, slug: str, set_name: str, case_key: str) -> Response:
        golden_set = self.golden_set(set_name)
        try:
            case = services.case_edit(golden_set=golden_set, case_key=case_key, user=request.user, data=request.data)
        except GoldenError as exc:
            return _error(exc)
        if case is None:
            raise NotFound("No such case in this set")
        return Response({**case_dict(case, payloads=self.payloads), "version": case.added_in})

    @extend_schema(responses={204: None}, summary="Remove a case (a new version)")
    def delete(self, request: Request, slug: str, set_name: str, case_key: str) -> Response:
        version = services.case_remove(golden_set=self.golden_set(set_name), case_key=case_key, user=request.user)
        if version is None:
            raise NotFound("No such case in this set")
        return Response(status=status.HTTP_204_NO_CONTENT, headers={"X-Golden-Set-Version": str(version)})
