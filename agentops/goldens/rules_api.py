"""Sampling rules and the review queue API, under /api/v1/projects/<slug>/ (personal tokens or a session).

- golden-rules/                     GET the project's rules (with `pending`, items waiting); POST
                                    {"name", "golden_set", "sample_rate", "filter"?, "auto_accept"?,
                                    "enabled"?} creates one (201; 409 on a name the project has).
- golden-rules/<id>/                GET one; PATCH the fields given; DELETE (204) with its queue (cases
                                    it added stay in their set).
- golden-review/                    GET the queue, oldest first: `state` (pending by default, or
                                    accepted, discarded, all), `rule` (an id), `limit` (1-500, 50),
                                    `cursor` (from `next`).
- golden-review/<id>/accept         POST {"expected_output"?, "assertions"?, "tags"?, "notes"?,
                                    "input"?}: adds the run to the rule's set as a case reviewed by the
                                    caller (one new version); 201 with the case and the version.
- golden-review/<id>/discard        POST: the item is discarded (200).

Who may: Viewers read rules and the queue without payloads (the runs' previews); writes and decisions
need "manage golden sets" (Engineer and above). Another tenant's project, a rule or item of another
project and a missing permission are all 404. A bad field is 400 naming it (`filter`, `sample_rate`,
`assertions[0].type`); deciding an item already decided is 409 on `state`.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.goldens import review, review_selectors, rules
from agentops.goldens.models import ReviewItem, SamplingRule
from agentops.goldens.presenters import case_dict
from agentops.goldens.review_presenters import item_dict, rule_dict
from agentops.goldens.validation import GoldenConflict, GoldenError
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm

_OBJECT = inline_serializer("GoldenRuleObject", fields={"data": serializers.JSONField()})


def _error(exc: GoldenError) -> Response:
    code = status.HTTP_409_CONFLICT if isinstance(exc, GoldenConflict) else status.HTTP_400_BAD_REQUEST
    return Response({exc.field: [exc.message]}, status=code)


class _RulesAPIView(ProjectAPIView):
    def rule(self, rule_id: int) -> SamplingRule:
        found = review_selectors.project_rule(self.project, rule_id)
        if found is None:
            raise NotFound("No such sampling rule in this project")
        return found

    def item(self, item_id: int) -> ReviewItem:
        found = review_selectors.project_item(self.project, item_id)
        if found is None:
            raise NotFound("No such review item in this project")
        return found


class GoldenRuleList(_RulesAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "POST": Perm.MANAGE_GOLDENS}

    @extend_schema(responses=_OBJECT, operation_id="v1_projects_golden_rules_list", summary="Sampling rules")
    def get(self, request: Request, slug: str) -> Response:
        return Response({"results": [rule_dict(r) for r in review_selectors.project_rules(self.project)]})

    @extend_schema(request=_OBJECT, responses={201: _OBJECT}, summary="Create a sampling rule")
    def post(self, request: Request, slug: str) -> Response:
        try:
            rule = rules.rule_create(project=self.project, user=request.user, data=request.data, payloads=self.payloads)
        except GoldenError as exc:
            return _error(exc)
        return Response(rule_dict(rule, pending=0), status=status.HTTP_201_CREATED)


class GoldenRuleDetail(_RulesAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "PATCH": Perm.MANAGE_GOLDENS, "DELETE": Perm.MANAGE_GOLDENS}

    @extend_schema(responses=_OBJECT, summary="A sampling rule")
    def get(self, request: Request, slug: str, golden_rule_id: int) -> Response:
        return Response(rule_dict(self.rule(golden_rule_id)))

    @extend_schema(request=_OBJECT, responses=_OBJECT, summary="Change a sampling rule")
    def patch(self, request: Request, slug: str, golden_rule_id: int) -> Response:
        rule = self.rule(golden_rule_id)
        try:
            rules.rule_update(rule=rule, user=request.user, data=request.data, payloads=self.payloads)
        except GoldenError as exc:
            return _error(exc)
        return Response(rule_dict(self.rule(golden_rule_id)))

    @extend_schema(responses={204: None}, summary="Delete a sampling rule and its queue")
    def delete(self, request: Request, slug: str, golden_rule_id: int) -> Response:
        rules.rule_delete(rule=self.rule(golden_rule_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GoldenReviewList(_RulesAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, description="pending (default), accepted, discarded or all"),
            OpenApiParameter("rule", int, description="only this rule's items"),
            OpenApiParameter("limit", int, description=f"1 to {review_selectors.MAX_LIMIT}"),
            OpenApiParameter("cursor", str, description="the `next` cursor of the previous page"),
        ],
        responses=_OBJECT,
        operation_id="v1_projects_golden_review_list",
        summary="The review queue of sampled runs",
    )
    def get(self, request: Request, slug: str) -> Response:
        try:
            filters = review_selectors.parse_queue_filters(request.query_params)
        except GoldenError as exc:
            raise ValidationError({exc.field: [exc.message]}) from None
        items, cursor = review_selectors.queue_page(self.project, filters)
        runs = review_selectors.runs_by_trace(self.project, (i.trace_id for i in items))
        next_url = None
        if cursor is not None:
            query = request.query_params.copy()
            query["cursor"] = str(cursor)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        results = [item_dict(i, runs, payloads=self.payloads) for i in items]
        return Response({"results": results, "next": next_url})


class GoldenReviewAccept(_RulesAPIView):
    required_perms = {"POST": Perm.MANAGE_GOLDENS}

    @extend_schema(request=_OBJECT, responses={201: _OBJECT}, summary="Accept a sampled run into its set")
    def post(self, request: Request, slug: str, review_id: int) -> Response:
        item = self.item(review_id)
        try:
            case = review.review_accept(item=item, user=request.user, data=request.data, payloads=self.payloads)
        except GoldenError as exc:
            return _error(exc)
        body = {
            **case_dict(case, payloads=self.payloads),
            "version": case.added_in,
            "golden_set": item.rule.golden_set.name,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class GoldenReviewDiscard(_RulesAPIView):
    required_perms = {"POST": Perm.MANAGE_GOLDENS}

    @extend_schema(request=None, responses=_OBJECT, summary="Discard a sampled run")
    def post(self, request: Request, slug: str, review_id: int) -> Response:
        try:
            item = review.review_discard(item=self.item(review_id), user=request.user)
        except GoldenError as exc:
            return _error(exc)
        runs = review_selectors.runs_by_trace(self.project, [item.trace_id])
        return Response(item_dict(item, runs, payloads=self.payloads))
