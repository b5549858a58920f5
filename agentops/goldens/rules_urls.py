"""Pages of sampling rules and the review queue (agentops.goldens.rules_views, review_views)."""

from django.urls import path

from agentops.goldens import review_views, rules_views

_rules = "p/<slug:slug>/golden-rules"
_review = "p/<slug:slug>/golden-review"

urlpatterns = [
    path(f"{_rules}/", rules_views.golden_rules, name="golden_rules"),
    path(f"{_rules}/new/", rules_views.golden_rule_create, name="golden_rule_create"),
    path(f"{_rules}/<int:golden_rule_id>/", rules_views.golden_rule_edit, name="golden_rule_edit"),
    path(f"{_rules}/<int:golden_rule_id>/enabled/", rules_views.golden_rule_enabled, name="golden_rule_enabled"),
    path(f"{_rules}/<int:golden_rule_id>/delete/", rules_views.golden_rule_delete, name="golden_rule_delete"),
    path(f"{_review}/", review_views.golden_review, name="golden_review"),
    path(f"{_review}/<int:review_id>/", review_views.golden_review_item, name="golden_review_item"),
    path(f"{_review}/<int:review_id>/accept/", review_views.golden_review_accept, name="golden_review_accept"),
    path(f"{_review}/<int:review_id>/discard/", review_views.golden_review_discard, name="golden_review_discard"),
]
