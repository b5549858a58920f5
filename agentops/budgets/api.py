"""The budgets API.

For agents (an ingest key of the project only), under /api/v1/budgets/:

- POST reserve/   body: agentops.budgets.reservations.FIELDS. 201 {"allowed": true, "reservation": id,
                  "remaining": [{"budget", "scope", "remaining_usd"}, ...], "reason": null} when every
                  applicable hard budget can take the amount (remaining after it); 200 {"allowed":
                  false, "reservation": null, "remaining": [...], "reason": "..."} when one cannot. A
                  retry with its idempotency_key: 200 with the first answer. 400 {"field", "detail"}
                  naming the bad field; 409 for an idempotency_key another key of the project used.
- POST reservations/<id>/commit/    {"actual_usd": ...} optional -> the reservation. 409 when released.
- POST reservations/<id>/release/   -> the reservation. 409 when committed.
  Only the key that reserved sees a reservation: any other caller gets 404.

For admins (personal token or session), under /api/v1/projects/<slug>/budgets/:

- GET  ""            {"results": [budget, ...]}, each with spent_usd, held_usd, remaining_usd, resets_at.
- POST ""            create (agentops.budgets.services.FIELDS): 201 with the budget; 400 naming the field.
- GET/PATCH/DELETE <id>/   one budget; another project's id is 404.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.budgets import reservations, selectors, services
from agentops.budgets.errors import BudgetError
from agentops.budgets.models import Budget
from agentops.budgets.presenters import budget_dict, remaining_list, reservation_dict
from agentops.tenancy.endpoints import AgentAPIView, ProjectAPIView
from agentops.tenancy.models import IngestKey, User
from agentops.tenancy.permissions import IsIngestKey
from agentops.tenancy.roles import Perm


def _error(error: BudgetError, not_found: str) -> Response:
    if error.status == 404:
        raise NotFound(not_found)
    return Response({"field": error.field, "detail": error.message}, status=error.status)


class _AgentOnly(AgentAPIView):
    # Budgets are the agents' own check: a person's token is refused (403), as on the ingest-key identity.
    permission_classes = [IsIngestKey]

    def key(self) -> IngestKey:
        assert isinstance(self.ingest_key, IngestKey)  # IsIngestKey let only ingest keys in
        return self.ingest_key


class Reserve(_AgentOnly):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Reserve before spending")
    def post(self, request: Request) -> Response:
        key = self.key()
        try:
            outcome = reservations.reservation_reserve(project=key.project, key=key, data=request.data)
        except BudgetError as error:
            return _error(error, "No such reservation")
        body = {
            "allowed": outcome.allowed,
            "reservation": outcome.reservation.pk if outcome.reservation is not None else None,
            "remaining": remaining_list(outcome.states),
            "reason": outcome.reason,
        }
        return Response(body, status=201 if outcome.allowed and outcome.created else 200)


def _actual(request: Request) -> Any:
    data = request.data
    if isinstance(data, dict):
        return data.get("actual_usd")
    return None


class ReservationCommit(_AgentOnly):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Commit a reservation")
    def post(self, request: Request, reservation_id: int) -> Response:
        if not isinstance(request.data, dict):
            return Response({"field": "body", "detail": "must be a JSON object"}, status=400)
        unknown = sorted(set(request.data) - {"actual_usd"})
        if unknown:
            return Response({"field": unknown[0], "detail": "is not a field of a commit"}, status=400)
        try:
            reservation = reservations.reservation_commit(
                key=self.key(), reservation_id=reservation_id, actual_usd=_actual(request)
            )
        except BudgetError as error:
            return _error(error, "No such reservation")
        return Response(reservation_dict(reservation))


class ReservationRelease(_AgentOnly):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, summary="Release a reservation")
    def post(self, request: Request, reservation_id: int) -> Response:
        try:
            reservation = reservations.reservation_release(key=self.key(), reservation_id=reservation_id)
        except BudgetError as error:
            return _error(error, "No such reservation")
        return Response(reservation_dict(reservation))


def _person(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):
        raise NotFound("No such project")
    return user


def _shown(budget: Budget) -> dict[str, Any]:
    now = timezone.now()
    return budget_dict(budget, selectors.budget_state(budget, now))


class BudgetList(ProjectAPIView):
    required_perms = {"GET": Perm.ADMIN_PROJECT, "POST": Perm.ADMIN_PROJECT}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The project's budgets, with their spend")
    def get(self, request: Request, slug: str) -> Response:
        return Response({"results": [_shown(b) for b in selectors.budgets_of_project(self.project)]})

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Create a budget")
    def post(self, request: Request, slug: str) -> Response:
        try:
            budget = services.budget_create(project=self.project, data=request.data, user=_person(request))
        except BudgetError as error:
            return _error(error, "No such budget")
        return Response(_shown(budget), status=201)


class BudgetDetail(ProjectAPIView):
    required_perms = {"GET": Perm.ADMIN_PROJECT, "PATCH": Perm.ADMIN_PROJECT, "DELETE": Perm.ADMIN_PROJECT}

    def budget(self, budget_id: int) -> Budget:
        budget = selectors.budget_in_project(self.project, budget_id)
        if budget is None:
            raise NotFound("No such budget")
        return budget

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A budget, with its spend")
    def get(self, request: Request, slug: str, budget_id: int) -> Response:
        return Response(_shown(self.budget(budget_id)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Change a budget")
    def patch(self, request: Request, slug: str, budget_id: int) -> Response:
        try:
            budget = services.budget_update(budget=self.budget(budget_id), data=request.data, user=_person(request))
        except BudgetError as error:
            return _error(error, "No such budget")
        return Response(_shown(budget))

    @extend_schema(request=None, responses={204: None}, summary="Delete a budget")
    def delete(self, request: Request, slug: str, budget_id: int) -> Response:
        services.budget_delete(budget=self.budget(budget_id), user=_person(request))
        return Response(status=204)
