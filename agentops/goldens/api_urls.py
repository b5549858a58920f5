"""The golden sets and eval runs API, included under /api/v1/projects/<slug>/ (see agentops.goldens.api)."""

from django.urls import path

from agentops.goldens import api, eval_api

urlpatterns = [
    path("golden-sets/", api.GoldenSetList.as_view(), name="api_golden_sets"),
    path("golden-sets/<str:set_name>/", api.GoldenSetDetail.as_view(), name="api_golden_set"),
    path("golden-sets/<str:set_name>/export/", api.GoldenSetExport.as_view(), name="api_golden_set_export"),
    path("golden-sets/<str:set_name>/import/", api.GoldenSetImport.as_view(), name="api_golden_set_import"),
    path("golden-sets/<str:set_name>/cases/", api.CaseList.as_view(), name="api_golden_cases"),
    path("golden-sets/<str:set_name>/cases/<str:case_key>/", api.CaseDetail.as_view(), name="api_golden_case"),
    path("eval-runs/", eval_api.EvalRunList.as_view(), name="api_eval_runs"),
    path("eval-runs/<int:eval_run_id>/", eval_api.EvalRunDetail.as_view(), name="api_eval_run"),
    path("eval-runs/<int:eval_run_id>/results/", eval_api.EvalRunResults.as_view(), name="api_eval_run_results"),
    path("eval-runs/<int:eval_run_id>/score/", eval_api.EvalRunScore.as_view(), name="api_eval_run_score"),
]
