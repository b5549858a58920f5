"""The agents' budgets API, included at /api/v1/budgets/ (see agentops.budgets.api)."""

from django.urls import path

from agentops.budgets import api

urlpatterns = [
    path("reserve/", api.Reserve.as_view(), name="api_budget_reserve"),
    path(
        "reservations/<int:reservation_id>/commit/",
        api.ReservationCommit.as_view(),
        name="api_budget_reservation_commit",
    ),
    path(
        "reservations/<int:reservation_id>/release/",
        api.ReservationRelease.as_view(),
        name="api_budget_reservation_release",
    ),
]
