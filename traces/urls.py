"""Pages of traces: a project's ingest settings."""

from django.urls import path, re_path

from traces import converters  # noqa: F401  (registers the <text:...> converter)
from traces.views import dashboards, replay, runs
from traces.views import settings as views

_ingest = "p/<slug:slug>/settings/ingest"
# Hex ids only, so that other pages under runs/ (the list's own paths) never resolve as a run.
_run = r"^p/(?P<slug>[-a-zA-Z0-9_]+)/runs/(?P<trace_id>[0-9a-fA-F]{32})"

urlpatterns = [
    path(f"{_ingest}/", views.ingest_settings, name="project_ingest_settings"),
    path(f"{_ingest}/policy/", views.ingest_policy_save, name="project_ingest_policy"),
    path(f"{_ingest}/prices/add/", views.price_override_add, name="project_price_add"),
    path(f"{_ingest}/prices/<int:override_id>/delete/", views.price_override_delete, name="project_price_delete"),
    path("p/<slug:slug>/runs/", runs.run_list, name="run_list"),
    # <text:> because a session id is whatever the SDK sent, slashes and dots included (traces.converters).
    path("p/<slug:slug>/sessions/<text:session_id>/", runs.session_thread, name="session_thread"),
    re_path(rf"{_run}/$", replay.run_replay, name="run_replay"),
    re_path(rf"{_run}/steps/(?P<span_id>[0-9a-fA-F]{{16}})/$", replay.run_step_panel, name="run_step_panel"),
    re_path(
        rf"{_run}/approvals/(?P<approval_id>[0-9]{{1,18}})/$", replay.run_approval_panel, name="run_approval_panel"
    ),
    re_path(rf"{_run}/export\.json$", replay.run_export, name="run_export"),
    path("p/<slug:slug>/compare/", replay.run_compare, name="run_compare"),
    path("p/<slug:slug>/dashboard/", dashboards.project_dashboard, name="project_dashboard"),
    # <text:> because agent names may hold slashes and anything else an SDK sends.
    path("p/<slug:slug>/agents/<text:agent>/", dashboards.agent_dashboard, name="agent_dashboard"),
]
