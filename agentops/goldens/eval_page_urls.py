"""Pages of eval runs, a golden set's gate and the LLM judge settings (agentops.goldens.eval_views,
agentops.goldens.settings_views)."""

from django.urls import path

from agentops.goldens import eval_views, settings_views

_p = "p/<slug:slug>"

urlpatterns = [
    path(f"{_p}/evals/", eval_views.eval_runs, name="eval_runs"),
    path(f"{_p}/evals/compare/", eval_views.eval_compare, name="eval_compare"),
    path(f"{_p}/evals/<int:eval_run_id>/", eval_views.eval_run_detail, name="eval_run"),
    path(f"{_p}/golden-sets/<str:set_name>/gate/", settings_views.golden_set_gate, name="golden_set_gate"),
    path(f"{_p}/settings/judge/", settings_views.judge_settings_page, name="judge_settings"),
]
