"""Pages of traces: a project's ingest settings."""

from django.urls import path

from traces.views import dashboards
from traces.views import settings as views

_ingest = "p/<slug:slug>/settings/ingest"

urlpatterns = [
    path(f"{_ingest}/", views.ingest_settings, name="project_ingest_settings"),
    path(f"{_ingest}/policy/", views.ingest_policy_save, name="project_ingest_policy"),
    path(f"{_ingest}/prices/add/", views.price_override_add, name="project_price_add"),
    path(f"{_ingest}/prices/<int:override_id>/delete/", views.price_override_delete, name="project_price_delete"),
    path("p/<slug:slug>/dashboard/", dashboards.project_dashboard, name="project_dashboard"),
    # <path:> because agent names may hold slashes and anything else an SDK sends.
    path("p/<slug:slug>/agents/<path:agent>/", dashboards.agent_dashboard, name="agent_dashboard"),
]
