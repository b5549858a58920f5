"""Pages of golden sets and the promotion of runs into them (agentops.goldens.views, promote_views)."""

from django.urls import path, re_path

from agentops.goldens import promote_views, views

_sets = "p/<slug:slug>/golden-sets"
_set = f"{_sets}/<str:set_name>"
# As traces.urls spells a run: hex ids only.
_run = r"^p/(?P<slug>[-a-zA-Z0-9_]+)/runs/(?P<trace_id>[0-9a-fA-F]{32})"

urlpatterns = [
    path(f"{_sets}/", views.golden_sets, name="golden_sets"),
    path(f"{_set}/", views.golden_set_page, name="golden_set"),
    path(f"{_set}/import/", views.golden_set_import, name="golden_set_import"),
    path(f"{_set}/cases/<str:case_key>/edit/", views.golden_case_edit, name="golden_case_edit"),
    path(f"{_set}/cases/<str:case_key>/remove/", views.golden_case_remove, name="golden_case_remove"),
    path("p/<slug:slug>/runs/add-to-golden-set/", promote_views.promote_runs, name="golden_promote_runs"),
    re_path(rf"{_run}/add-to-golden-set/$", promote_views.promote_run, name="golden_promote_run"),
    re_path(
        rf"{_run}/steps/(?P<span_id>[0-9a-fA-F]{{16}})/add-to-golden-set/$",
        promote_views.promote_run,
        name="golden_promote_step",
    ),
]
