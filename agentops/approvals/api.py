"""The approvals API.

For agents (an ingest key of the project, or a person's personal token), under /api/v1/approvals/:

- POST approvals/          body: the fields of agentops.approvals.services.FIELDS (`action` and
                           `arguments` required); a personal token adds `project` (the slug). 201 with
                           the request ({"id", "state": "pending", ...}); 200 with the same request for
                           a retry with its `idempotency_key`. 400 {"field", "detail"} naming the bad
                           field, nothing created; 404 for a project the person may not view.
- GET approvals/<id>/      the request: state, decisions, `arguments` and `arguments_to_use`. Only its
                           creator (that ingest key, that person) sees it: anyone else gets 404.
                           `?wait=<seconds, up to 60>` long-polls: the answer comes once the request is
                           no longer pending, or with the pending state when the wait ends. Behind
                           `agentops web` the wait is spent in the front, on its event loop
                           (agentops.server.park), holding no thread and no database connection; any
                           other server waits here, re-reading the state (a thread for the whole wait).
- POST approvals/<id>/cancel/   the creator cancels a pending request (409 once decided).

For reviewers (personal token or session), under /api/v1/projects/<slug>/:

- GET approvals/?state=pending|approved|rejected|expired|cancelled   newest first (pending: the soonest
                           expiry first), at most 200: {"results": [...]}. Without the payload permission
                           (Viewers) the arguments and summary are left out. Also `action` (a prefix),
                           `reviewer` (an e-mail), `since` and `until` (the decision's time, ISO 8601):
                           the history's filters (agentops.approvals.history); 400 names a bad one.
- POST approvals/<id>/decision/   {"decision": "approve"|"reject", "comment", "arguments"?: edited}.
                           Reviewer and Admin only (others 404); 400 naming the field, 403 for one's own
                           request, 409 when the request is no longer pending or one has decided already.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.approvals import history, selectors, services
from agentops.approvals.models import ApprovalRequest
from agentops.approvals.presenters import approval_dict
from agentops.approvals.services import ApprovalError, ApprovalInvalid
from agentops.server.park import FRONT_HEADER, MAX_WAIT, PARK_HEADER
from agentops.tenancy import access
from agentops.tenancy.endpoints import AgentAPIView, ProjectAPIView
from agentops.tenancy.models import User
from agentops.tenancy.roles import Perm


def _error(error: ApprovalError) -> Response:
    if error.status == status.HTTP_404_NOT_FOUND:
        raise NotFound("No such approval request")
    return Response({"field": error.field, "detail": error.message}, status=error.status)


def _person(request: Request) -> User:
    """The person calling: what the default permission class lets through when it is no ingest key."""
    user = request.user
    if not isinstance(user, User):
        raise NotFound("No such approval request")
    return user


def _body(request: Request) -> Any:
    return request.data if isinstance(request.data, dict) else None


class ApprovalCreate(AgentAPIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Ask for an approval")
    def post(self, request: Request) -> Response:
        data = _body(request)
        if data is None:
            return Response({"field": "body", "detail": "must be a JSON object"}, status=400)
        data = dict(data)
        try:
            if self.ingest_key is not None:
                if "project" in data:
                    return Response({"field": "project", "detail": "an ingest key asks in its own project"}, status=400)
                approval, created = services.approval_request_create(
                    project=self.ingest_key.project, data=data, key=self.ingest_key
                )
            else:
                if "project" not in data:
                    return Response({"field": "project", "detail": "is required with a personal token"}, status=400)
                project = self.person_project(data.pop("project"))
                approval, created = services.approval_request_create(project=project, data=data, user=_person(request))
        except ApprovalError as error:
            return _error(error)
        found = selectors.approval_in_project(approval.project, approval.pk)
        assert found is not None
        return Response(approval_dict(found, payloads=True), status=201 if created else 200)


class _Own(AgentAPIView):
    def own(self, approval_id: int) -> ApprovalRequest:
        """The request if the caller created it (and, a person, may still view its project); else 404."""
        if self.ingest_key is not None:
            found = selectors.approval_of_key(self.ingest_key, approval_id)
        else:
            found = selectors.approval_of_user(_person(self.request), approval_id)
            if found is not None and Perm.VIEW_PROJECT not in access.perms_on(self.request.user, found.project):
                found = None
        if found is None:
            raise NotFound("No such approval request")
        return found


def _wait(request: Request) -> float:
    raw = request.query_params.get("wait")
    if not raw:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT:  # NaN too
        raise ApprovalInvalid("wait", f"must be a number of seconds from 0 to {MAX_WAIT:g}")
    return wait


class ApprovalDetail(_Own):
    @extend_schema(
        parameters=[OpenApiParameter("wait", float, description="seconds to wait for a decision (up to 60)")],
        responses=OpenApiTypes.OBJECT,
        summary="An approval request the caller created",
    )
    def get(self, request: Request, approval_id: int) -> Response:
        try:
            wait = _wait(request)
        except ApprovalError as error:
            return _error(error)
        approval = self.own(approval_id)
        if wait and approval.state == ApprovalRequest.State.PENDING:
            if request.headers.get(FRONT_HEADER.decode()) == "park":
                # The front waits for us, on its event loop, and asks again when woken (server.park).
                return Response(approval_dict(approval, payloads=True), headers={PARK_HEADER.decode(): "1"})
            if selectors.approval_pending_after(approval.pk, wait):
                return Response(approval_dict(approval, payloads=True))
            approval = self.own(approval_id)
        return Response(approval_dict(approval, payloads=True))


class ApprovalCancel(_Own):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, summary="Cancel one's own pending request")
    def post(self, request: Request, approval_id: int) -> Response:
        approval = self.own(approval_id)
        try:
            if self.ingest_key is not None:
                services.approval_cancel(project=approval.project, approval_id=approval.pk, key=self.ingest_key)
            else:
                services.approval_cancel(project=approval.project, approval_id=approval.pk, user=_person(request))
        except ApprovalError as error:
            return _error(error)
        return Response(approval_dict(self.own(approval_id), payloads=True))


class ProjectApprovalList(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The project's approval requests")
    def get(self, request: Request, slug: str) -> Response:
        try:
            filters = history.parse_filters(request.query_params, states=tuple(ApprovalRequest.State.values))
        except history.FilterError as error:
            return Response({"field": error.field, "detail": error.message}, status=400)
        items = history.approvals_listed(self.project, filters)
        return Response({"results": [approval_dict(a, payloads=self.payloads) for a in items]})


class ProjectApprovalDecision(ProjectAPIView):
    required_perms = {"POST": Perm.REVIEW_APPROVALS}

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Approve or reject")
    def post(self, request: Request, slug: str, approval_id: int) -> Response:
        data = _body(request)
        if data is None:
            return Response({"field": "body", "detail": "must be a JSON object"}, status=400)
        unknown = sorted(set(data) - {"decision", "comment", "arguments"})
        if unknown:
            return Response({"field": unknown[0], "detail": "is not a field of a decision"}, status=400)
        try:
            services.approval_decide(
                project=self.project,
                approval_id=approval_id,
                reviewer=_person(request),
                decision=data.get("decision"),
                comment=data.get("comment", ""),
                arguments=data.get("arguments"),
            )
        except ApprovalError as error:
            return _error(error)
        found = selectors.approval_in_project(self.project, approval_id)
        assert found is not None
        return Response(approval_dict(found, payloads=self.payloads))
