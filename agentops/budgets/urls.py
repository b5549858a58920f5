"""The agents' budgets API, included at /api/v1/budgets/ (see agentops.budgets.api).

The issue's contract names these paths without a trailing slash (`POST /api/v1/budgets/reserve`); both
spellings are served, since a POST cannot follow Django's add-a-slash redirect."""

from django.urls import re_path

from agentops.budgets import api

urlpatterns = [
    re_path(r"^reserve/?$", api.Reserve.as_view(), name="api_budget_reserve"),
    re_path(
        r"^reservations/(?P<reservation_id>[0-9]+)/commit/?$",
        api.ReservationCommit.as_view(),
        name="api_budget_reservation_commit",
    ),
    re_path(
        r"^reservations/(?P<reservation_id>[0-9]+)/release/?$",
        api.ReservationRelease.as_view(),
        name="api_budget_reservation_release",
    ),
]
