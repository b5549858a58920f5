"""The sampling rules and review queue API, included under /api/v1/projects/<slug>/ (agentops.goldens.rules_api)."""

from django.urls import path

from agentops.goldens import rules_api

urlpatterns = [
    path("golden-rules/", rules_api.GoldenRuleList.as_view(), name="api_golden_rules"),
    path("golden-rules/<int:golden_rule_id>/", rules_api.GoldenRuleDetail.as_view(), name="api_golden_rule"),
    path("golden-review/", rules_api.GoldenReviewList.as_view(), name="api_golden_review"),
    path(
        "golden-review/<int:review_id>/accept", rules_api.GoldenReviewAccept.as_view(), name="api_golden_review_accept"
    ),
    path(
        "golden-review/<int:review_id>/discard",
        rules_api.GoldenReviewDiscard.as_view(),
        name="api_golden_review_discard",
    ),
]
