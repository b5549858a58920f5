"""Walk every URL pattern with every persona and compare the status with the access table.

A new URL pattern that `ACCESS` does not name fails the walk: whoever adds a page decides here who may
open it. Django admin (its own permission system) and static files are left out by the rule in
`_excluded`, nothing else.

Beyond the table: every URL without a slug shows an outsider nothing of the project, another
project's object ids under one's own slug are 404 even for an admin, and an ingest key is refused by
every URL but the one made for it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, include, path, reverse

from agentops import urls as root_urls
from agentops.agents.models import Bundle
from agentops.agents.services import bundles_record
from agentops.approvals.services import approval_request_create
from agentops.budgets.caps import step_cap_create
from agentops.budgets.reservations import reservation_reserve
from agentops.budgets.services import budget_create
from agentops.goldens.eval_services import eval_create
from agentops.goldens.models import ReviewItem
from agentops.goldens.rules import rule_create
from agentops.goldens.services import case_add, golden_set_create
from agentops.notify.services import channel_create
from agentops.tenancy import services, views
from agentops.tenancy.access import perms_on
from agentops.tenancy.models import IngestKey, Membership
from agentops.tenancy.roles import Perm
from tests.agentops.alerts.alert_factories import make_alert
from tests.factories import make_run, make_user
from tests.otlp import AgentTrace
from traces.services import price_override_set

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Rule:
    """Who may GET a URL, and the status they get (405 for a POST-only action)."""

    kind: str  # "public" | "login_page" | "user" | "project" | "api" | "project_api"
    ok: int | tuple[int, ...] = 200  # several when the answer depends on more than access
    perm: Perm | None = None


PUBLIC = Rule("public")
USER = Rule("user")  # any logged-in user; anonymous is sent to the login page
USER_POST = Rule("user", ok=405)
API = Rule("api")  # any authenticated caller; anonymous gets 401


def project(perm: Perm, ok: int = 200) -> Rule:
    return Rule("project", ok=ok, perm=perm)


def project_api(perm: Perm, ok: int = 200) -> Rule:
    return Rule("project_api", ok=ok, perm=perm)


ACCESS: dict[str, Rule] = {
    "healthz": PUBLIC,
    # 503 when a dependency is down (the test broker folder may not exist): open to all either way.
    "readyz": Rule("public", ok=(200, 503)),
    "login": Rule("login_page"),
    "logout": Rule("public", ok=405),
    "home": USER,
    "project": project(Perm.VIEW_PROJECT),
    "project_members": project(Perm.ADMIN_PROJECT),
    "project_member_add": project(Perm.ADMIN_PROJECT, ok=405),
    "project_member_role": project(Perm.ADMIN_PROJECT, ok=405),
    "project_member_remove": project(Perm.ADMIN_PROJECT, ok=405),
    "project_keys": project(Perm.ADMIN_PROJECT),
    "project_key_create": project(Perm.ADMIN_PROJECT, ok=405),
    "project_key_revoke": project(Perm.ADMIN_PROJECT, ok=405),
    "project_audit": project(Perm.ADMIN_PROJECT),
    "project_ingest_settings": project(Perm.ADMIN_PROJECT),
    "project_ingest_policy": project(Perm.ADMIN_PROJECT, ok=405),
    "project_price_add": project(Perm.ADMIN_PROJECT, ok=405),
    "project_price_delete": project(Perm.ADMIN_PROJECT, ok=405),
    "project_dashboard": project(Perm.VIEW_PROJECT),
    "agent_dashboard": project(Perm.VIEW_PROJECT),
    # Bundle comparison and the agent dashboard's verdicts fragment (agentops.agents.views).
    "bundle_compare": project(Perm.VIEW_PROJECT),
    "bundle_verdicts": project(Perm.VIEW_PROJECT),
    "account_tokens": USER,
    "account_token_create": USER_POST,
    "account_token_revoke": USER_POST,
    "api_projects": API,
    # For ingest keys only (tested below): a person is authenticated but refused.
    "api_ingest_key": Rule("api", ok=403),
    "api_audit": project_api(Perm.ADMIN_PROJECT),
    "api_runs": project_api(Perm.VIEW_PROJECT),
    "api_run": project_api(Perm.VIEW_PROJECT),
    "api_step": project_api(Perm.VIEW_PROJECT),
    "api_bundles": project_api(Perm.VIEW_PROJECT),
    "api_bundle": project_api(Perm.VIEW_PROJECT),
    # Without ?agent=&candidate= a member gets 400 (missing parameters); outsiders 404 before that.
    "api_canary": project_api(Perm.VIEW_PROJECT, ok=400),
    "run_list": project(Perm.VIEW_PROJECT),
    "session_thread": project(Perm.VIEW_PROJECT),
    "run_replay": project(Perm.VIEW_PROJECT),
    "run_step_panel": project(Perm.VIEW_PROJECT),
    "run_export": project(Perm.VIEW_PROJECT),
    # Without ?a=&b= it is the form that asks for two runs.
    "run_compare": project(Perm.VIEW_PROJECT),
    # Authenticated by an ingest key, not a session: a GET is refused the same for everyone.
    "otlp_traces": Rule("public", ok=405),
    "otlp_logs": Rule("public", ok=405),
    "otlp_metrics": Rule("public", ok=405),
    # Any other path under /v1/: an OTLP-shaped 404 for everyone.
    "otlp_unknown": Rule("public", ok=404),
    "api_schema": PUBLIC,
    "api_docs": PUBLIC,
    # Notification channels (agentops.notify): Viewers read, Engineers and above edit.
    "channels": project(Perm.VIEW_PROJECT),
    "channel_rows": project(Perm.VIEW_PROJECT),
    "channel_create": project(Perm.MANAGE_ALERTS, ok=405),
    "channel_enabled": project(Perm.MANAGE_ALERTS, ok=405),
    "channel_test": project(Perm.MANAGE_ALERTS, ok=405),
    "channel_delete": project(Perm.MANAGE_ALERTS, ok=405),
    "api_channels": project_api(Perm.VIEW_PROJECT),
    "api_channel": project_api(Perm.VIEW_PROJECT),
    # POST only: a member's GET is 405 (the method map), an outsider's 404.
    "api_channel_test": project_api(Perm.VIEW_PROJECT, ok=405),
    "api_channel_deliveries": project_api(Perm.VIEW_PROJECT),
    # Alerts and their rules (agentops.alerts): Viewers read; Engineers and above edit rules and act on alerts.
    "alerts": project(Perm.VIEW_PROJECT),
    "alert_detail": project(Perm.VIEW_PROJECT),
    "alert_acknowledge": project(Perm.MANAGE_ALERTS, ok=405),
    "alert_mute": project(Perm.MANAGE_ALERTS, ok=405),
    "alert_unmute": project(Perm.MANAGE_ALERTS, ok=405),
    "alert_rules": project(Perm.VIEW_PROJECT),
    "alert_rule_create": project(Perm.MANAGE_ALERTS),
    "alert_rule_edit": project(Perm.MANAGE_ALERTS),
    "alert_rule_enabled": project(Perm.MANAGE_ALERTS, ok=405),
    "alert_rule_delete": project(Perm.MANAGE_ALERTS, ok=405),
    "api_alert_rules": project_api(Perm.VIEW_PROJECT),
    "api_alert_rule": project_api(Perm.VIEW_PROJECT),
    "api_alerts": project_api(Perm.VIEW_PROJECT),
    "api_alert": project_api(Perm.VIEW_PROJECT),
    # POST only: a member's GET is 405 (the method map), an outsider's 404.
    "api_alert_acknowledge": project_api(Perm.VIEW_PROJECT, ok=405),
    "api_alert_mute": project_api(Perm.VIEW_PROJECT, ok=405),
    "api_alert_unmute": project_api(Perm.VIEW_PROJECT, ok=405),
    # Approvals (agentops.approvals). The agents' URLs name no project: POST only (GET 405), and a
    # request reads only for its creator (the walk's was made by an ingest key: everyone else 404).
    "api_approvals": Rule("api", ok=405),
    "api_approval": Rule("api", ok=404),
    "api_approval_cancel": Rule("api", ok=405),
    # Reviewers: Viewers list (without payloads); only Reviewers and Admins decide (POST only).
    "api_project_approvals": project_api(Perm.VIEW_PROJECT),
    "api_project_approval_decision": project_api(Perm.VIEW_PROJECT, ok=405),
    # The inbox pages (agentops.approvals.views): every member reads (Viewers without payloads); only
    # Reviewers and Admins decide (POST only: a GET is 405 for them, 404 for everyone else).
    "approvals_inbox_all": USER,
    "approvals_inbox": project(Perm.VIEW_PROJECT),
    "approval_detail": project(Perm.VIEW_PROJECT),
    "approval_decide": project(Perm.REVIEW_APPROVALS, ok=405),
    # History and figures: anyone who may view the project; approval settings: admins only.
    "approval_history": project(Perm.VIEW_PROJECT),
    "approval_settings": project(Perm.ADMIN_PROJECT),
    "api_project_approval_settings": project_api(Perm.ADMIN_PROJECT),
    # An approval request as a step of its run's replay (the walk's request is tied to the walked run).
    "run_approval_panel": project(Perm.VIEW_PROJECT),
    # Golden sets (agentops.goldens): Viewers read without payloads; the export needs payloads; writes
    # need "manage golden sets". The import is POST only: a member's GET is 405.
    "api_golden_sets": project_api(Perm.VIEW_PROJECT),
    "api_golden_set": project_api(Perm.VIEW_PROJECT),
    "api_golden_set_export": project_api(Perm.VIEW_PAYLOADS),
    "api_golden_set_import": project_api(Perm.VIEW_PROJECT, ok=405),
    "api_golden_cases": project_api(Perm.VIEW_PROJECT),
    "api_golden_case": project_api(Perm.VIEW_PROJECT),
    # The golden set pages (agentops.goldens.views): every member reads (Viewers without payloads); a
    # POST to the list creates a set (managers only, checked in the view). Editing, removing, importing
    # and promoting need "manage golden sets" (the promotion pages need payloads too: Engineer and above).
    "golden_sets": project(Perm.VIEW_PROJECT),
    "golden_set": project(Perm.VIEW_PROJECT),
    "golden_set_import": project(Perm.MANAGE_GOLDENS, ok=405),
    "golden_case_edit": project(Perm.MANAGE_GOLDENS),
    "golden_case_remove": project(Perm.MANAGE_GOLDENS, ok=405),
    "golden_promote_run": project(Perm.MANAGE_GOLDENS),
    "golden_promote_step": project(Perm.MANAGE_GOLDENS),
    "golden_promote_runs": project(Perm.MANAGE_GOLDENS),
    # Sampling rules and the review queue (agentops.goldens.rules_api, rules_views, review_views): Viewers
    # read (without payloads); writing rules and deciding items need "manage golden sets". Decisions are
    # POST only: in the API a member's GET is 405 (the method map); on the pages a GET is 405 for those
    # who may decide, 404 for everyone else.
    "api_golden_rules": project_api(Perm.VIEW_PROJECT),
    "api_golden_rule": project_api(Perm.VIEW_PROJECT),
    "api_golden_review": project_api(Perm.VIEW_PROJECT),
    "api_golden_review_accept": project_api(Perm.VIEW_PROJECT, ok=405),
    "api_golden_review_discard": project_api(Perm.VIEW_PROJECT, ok=405),
    "golden_rules": project(Perm.VIEW_PROJECT),
    "golden_rule_create": project(Perm.MANAGE_GOLDENS),
    "golden_rule_edit": project(Perm.MANAGE_GOLDENS),
    "golden_rule_enabled": project(Perm.MANAGE_GOLDENS, ok=405),
    "golden_rule_delete": project(Perm.MANAGE_GOLDENS, ok=405),
    "golden_review": project(Perm.VIEW_PROJECT),
    "golden_review_item": project(Perm.VIEW_PROJECT),
    "golden_review_accept": project(Perm.MANAGE_GOLDENS, ok=405),
    "golden_review_discard": project(Perm.MANAGE_GOLDENS, ok=405),
    # Budgets (agentops.budgets): the agents' reserve, commit and release are for ingest keys only (a
    # person's token 403, POST only); the project's budgets are Admin's.
    "api_budget_reserve": Rule("api", ok=403),
    "api_budget_reservation_commit": Rule("api", ok=403),
    "api_budget_reservation_release": Rule("api", ok=403),
    "api_budgets": project_api(Perm.ADMIN_PROJECT),
    "api_budget": project_api(Perm.ADMIN_PROJECT),
    # Step caps (agentops.budgets.caps_api): Admin's, as budgets are.
    "api_step_caps": project_api(Perm.ADMIN_PROJECT),
    "api_step_cap": project_api(Perm.ADMIN_PROJECT),
    # The budgets page (agentops.budgets.views): anyone who may view the project reads it and may ask for a
    # raise (an approval request); creating, changing and deleting are Admin's, as in the API.
    "budgets": project(Perm.VIEW_PROJECT),
    "budget_create": project(Perm.ADMIN_PROJECT),
    "budget_edit": project(Perm.ADMIN_PROJECT),
    "budget_delete": project(Perm.ADMIN_PROJECT, ok=405),
    "budget_raise": project(Perm.VIEW_PROJECT),
    # Exact cost per customer, agent, bundle (agentops.costs): metrics, no payloads, so every member.
    "api_costs": project_api(Perm.VIEW_PROJECT),
    "costs": project(Perm.VIEW_PROJECT),
    # Eval runs (agentops.goldens.eval_api): Viewers read without payloads; starting one needs "manage
    # golden sets"; results and scoring are POST only (a member's GET is 405, an outsider's 404).
    "api_eval_runs": project_api(Perm.VIEW_PROJECT),
    "api_eval_run": project_api(Perm.VIEW_PROJECT),
    "api_eval_run_results": project_api(Perm.VIEW_PROJECT, ok=405),
    "api_eval_run_score": project_api(Perm.VIEW_PROJECT, ok=405),
    # Eval run pages (agentops.goldens.eval_views): every member reads (Viewers without outputs); without
    # ?a=&b= the comparison is its form. A set's gate page is for "manage golden sets"; the LLM judge
    # settings are Admin's.
    "eval_runs": project(Perm.VIEW_PROJECT),
    "eval_run": project(Perm.VIEW_PROJECT),
    "eval_compare": project(Perm.VIEW_PROJECT),
    "golden_set_gate": project(Perm.MANAGE_GOLDENS),
    "judge_settings": project(Perm.ADMIN_PROJECT),
    # Retention (agentops.retention): Admin only; the erasure form and the pin button are POST only.
    "retention_settings": project(Perm.ADMIN_PROJECT),
    "retention_erasure": project(Perm.ADMIN_PROJECT, ok=405),
    "run_pin": project(Perm.ADMIN_PROJECT, ok=405),
    "api_retention": project_api(Perm.ADMIN_PROJECT),
    "api_pins": project_api(Perm.ADMIN_PROJECT),
    "api_erasures": project_api(Perm.ADMIN_PROJECT),
}


def _excluded(route: str) -> bool:
    return route.startswith(("admin/", "static/"))


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str | None]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}" if entry.name else None


def _patterns() -> dict[str, str]:
    """Every named, walked pattern: name -> route."""
    found: dict[str, str] = {}
    for route, name in _walk(get_resolver().url_patterns):
        if _excluded(route):
            continue
        assert name is not None, f"URL pattern {route!r} has no name: name it and add it to ACCESS"
        found[name] = route
    return found


def _params(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route) + re.findall(r"\(\?P<(\w+)>", route)


def _uncovered() -> tuple[list[str], list[str]]:
    """URL names without a rule, and rules without a URL."""
    names = set(_patterns())
    return sorted(names - set(ACCESS)), sorted(set(ACCESS) - names)


def test_the_table_covers_every_url_pattern_and_nothing_else():
    missing, stale = _uncovered()
    assert not missing, f"new URL patterns without an access rule in tests/test_permission_walk.py: {missing}"
    assert not stale, f"ACCESS names URL patterns that no longer exist: {stale}"


def test_a_new_url_pattern_is_caught():
    urlconf = ModuleType("urls_with_a_new_page")
    extra = [path("reports/", include([path("weekly/", views.home, name="weekly_report")]))]
    urlconf.urlpatterns = [*root_urls.urlpatterns, *extra]  # type: ignore[attr-defined]
    with override_settings(ROOT_URLCONF=urlconf):
        assert _uncovered() == (["weekly_report"], [])
    urlconf.urlpatterns = [*root_urls.urlpatterns, path("unnamed/", views.home)]  # type: ignore[attr-defined]
    with override_settings(ROOT_URLCONF=urlconf), pytest.raises(AssertionError, match="'unnamed/' has no name"):
        _patterns()


def test_the_walk_finds_patterns_inside_includes():
    routes = _patterns()
    assert routes["api_projects"] == "api/v1/projects/"
    assert routes["project_member_role"] == "p/<slug:slug>/settings/members/<int:membership_id>/role/"
    assert not any(_excluded(route) for route in routes.values())


def _expected(rule: Rule, user: object, persona_perms: frozenset[Perm]) -> int | str | tuple[int, ...]:
    anonymous = isinstance(user, AnonymousUser)
    if rule.kind == "public":
        return rule.ok
    if rule.kind == "login_page":
        return 200 if anonymous else 302
    if rule.kind == "api":
        return 401 if anonymous else rule.ok
    if rule.kind == "project_api":
        if anonymous:
            return 401
        assert rule.perm is not None
        return rule.ok if rule.perm in persona_perms else 404
    if anonymous:
        return "to login"
    if rule.kind == "user":
        return rule.ok
    assert rule.kind == "project" and rule.perm is not None
    return rule.ok if rule.perm in persona_perms else 404


def _price_override(project):
    return price_override_set(
        project=project, model="walk-model", input_per_mtok=Decimal(1), output_per_mtok=Decimal(2)
    )


def _bundle(project):
    bundles_record()
    return Bundle.objects.get(project=project)


def _channel(project):
    return channel_create(project=project, kind="slack", url="https://hooks.example.com/walk").channel


def _alert(project):
    return make_alert(project)


def _approval(project, trace_id=""):
    key = services.ingest_key_create(project=project).key
    data = {"action": "walk", "arguments": {}, "trace_id": trace_id}
    return approval_request_create(project=project, data=data, key=key)[0]


def _golden(project) -> dict[str, str]:
    """A golden set of the project (named after it: another project's set has another name) with a case,
    and an eval run on it."""
    golden_set = golden_set_create(project=project, user=None, data={"name": f"walk-{project.pk}"})
    case = case_add(golden_set=golden_set, user=None, data={"input": "walk"}, payloads=True)
    eval_run = eval_create(project=project, user=None, data={"set": golden_set.name, "bundle": "walk"}).eval_run
    return {
        "set_name": golden_set.name,
        "case_key": case.case_key,
        "eval_run_id": str(eval_run.pk),
        **_golden_review(project, golden_set.name),
    }


def _golden_review(project, set_name: str) -> dict[str, str]:
    """A sampling rule of the project filling that set, with one pending review item."""
    rule = rule_create(project=project, user=None, data={"name": "walk", "golden_set": set_name, "sample_rate": 10})
    item = ReviewItem.objects.create(rule=rule, project=project, trace_id=uuid.uuid4())
    return {"golden_rule_id": str(rule.pk), "review_id": str(item.pk)}


def _budget(project):
    admin = Membership.objects.filter(project=project).first()
    return budget_create(project=project, data={"limit_usd": 1, "window": "day"}, user=admin.user)  # type: ignore[union-attr]


def _step_cap(project):
    admin = Membership.objects.filter(project=project).first()
    return step_cap_create(project=project, data={"agent": "walk", "max_steps": 1}, user=admin.user)  # type: ignore[union-attr]


def _reservation(project):
    key = services.ingest_key_create(project=project).key
    outcome = reservation_reserve(project=project, key=key, data={"estimate_usd": 0.1})
    assert outcome.reservation is not None
    return outcome.reservation


def test_every_url_with_every_persona(personas):
    target = personas.project
    superuser = make_user(superuser=True)
    key = services.ingest_key_create(project=target).key
    token = services.api_token_create(user=personas.admin).token
    run = make_run(target)
    fill = {
        "slug": target.slug,
        "trace_id": run.trace_hex,
        "span_id": run.spans[1].span_id.hex(),
        # Real objects of the walked project: a 404 below means the permission, not a missing row.
        "membership_id": Membership.objects.get(project=target, user=personas.viewer).pk,
        "key_id": key.pk,
        "token_id": token.pk,
        "override_id": _price_override(target).pk,
        "agent": run.agent,
        "session_id": run.session,
        "bundle_id": _bundle(target).pk,
        "channel_id": _channel(target).pk,
        "alert_id": (alert := _alert(target)).pk,
        "rule_id": alert.rule_id,
        "approval_id": _approval(target, run.trace_hex).pk,
        **_golden(target),
        "budget_id": _budget(target).pk,
        "cap_id": _step_cap(target).pk,
        "reservation_id": _reservation(target).pk,
    }
    users: dict[str, Any] = {"anonymous": AnonymousUser(), **personas.by_role(), "superuser": superuser}

    mismatches = []
    for name, route in sorted(_patterns().items()):
        unknown = [p for p in _params(route) if p not in fill]
        assert not unknown, f"{name}: teach the walk how to fill {unknown} with a real object of the project"
        url = reverse(name, kwargs={p: fill[p] for p in _params(route)})
        for persona, user in users.items():
            client = Client()
            if not isinstance(user, AnonymousUser):
                client.force_login(user)
            expected = _expected(ACCESS[name], user, perms_on(user, target))
            response = client.get(url)
            got: int | str = response.status_code
            if got == 302 and response["Location"].startswith(f"{reverse('login')}?next="):
                got = "to login"
            if got != expected and not (isinstance(expected, tuple) and got in expected):
                mismatches.append(f"GET {url} as {persona}: expected {expected}, got {got}")
    assert not mismatches, "\n".join(mismatches)


def test_outsiders_get_404_from_every_project_url(personas):
    """The table's promise, stated on its own: nothing under /p/<slug>/ answers an outsider but 404."""
    client = Client()
    client.force_login(personas.outsider)
    project_routes = [(n, r) for n, r in _patterns().items() if "slug" in _params(r)]
    assert len(project_routes) >= 9
    key = services.ingest_key_create(project=personas.project).key
    run = make_run(personas.project)
    fill = {
        "slug": personas.project.slug,
        "trace_id": run.trace_hex,
        "span_id": run.spans[1].span_id.hex(),
        "membership_id": Membership.objects.get(project=personas.project, user=personas.admin).pk,
        "key_id": key.pk,
        "override_id": _price_override(personas.project).pk,
        "agent": run.agent,
        "session_id": run.session,
        "bundle_id": _bundle(personas.project).pk,
        "channel_id": _channel(personas.project).pk,
        "alert_id": (alert := _alert(personas.project)).pk,
        "rule_id": alert.rule_id,
        "approval_id": _approval(personas.project).pk,
        **_golden(personas.project),
        "budget_id": _budget(personas.project).pk,
        "cap_id": _step_cap(personas.project).pk,
        "reservation_id": _reservation(personas.project).pk,
    }
    for name, route in project_routes:
        url = reverse(name, kwargs={p: fill[p] for p in _params(route)})
        assert client.get(url).status_code == 404, url
        assert client.post(url).status_code == 404, url


def _url(name: str, route: str, fill: dict[str, Any]) -> str:
    return reverse(name, kwargs={p: fill[p] for p in _params(route)})


def test_urls_without_a_slug_show_an_outsider_nothing_of_the_project(personas):
    """The pages and API answers that name no project (home, the project list, tokens) list only the
    caller's own: an outsider finds no trace of the project there, whatever they try."""
    target = personas.project
    admins_token = services.api_token_create(user=personas.admin).token
    routes = {n: r for n, r in _patterns().items() if "slug" not in _params(r)}
    assert {"home", "api_projects", "account_tokens", "account_token_revoke", "api_ingest_key"} <= set(routes)
    fill = {
        "token_id": admins_token.pk,
        "approval_id": _approval(target).pk,
        "reservation_id": _reservation(target).pk,
    }
    client = Client()
    for name, route in sorted(routes.items()):
        url = _url(name, route, fill)
        client.force_login(personas.outsider)  # again: a POST to logout/ ends the session
        for response in (client.get(url), client.post(url)):
            body = response.content.decode(errors="replace")
            assert target.slug not in body and target.name not in body, (name, response.status_code)
            assert admins_token.prefix not in body, name
    # Another user's token id is 404, and the token still works.
    client.force_login(personas.outsider)
    assert client.post(_url("account_token_revoke", routes["account_token_revoke"], fill)).status_code == 404
    admins_token.refresh_from_db()
    assert admins_token.is_active


def _other_projects_objects(personas) -> dict[str, Any]:
    """Real objects of the outsider's project B, to ask for under project A's slug."""
    other = personas.other_project
    run = make_run(other, AgentTrace(agent="only-in-b", session="session-only-in-b"))
    return {
        "slug": personas.project.slug,
        "trace_id": run.trace_hex,
        "span_id": run.spans[1].span_id.hex(),
        "membership_id": Membership.objects.get(project=other, user=personas.outsider).pk,
        "key_id": services.ingest_key_create(project=other).key.pk,
        "override_id": _price_override(other).pk,
        "agent": run.agent,
        "session_id": run.session,
        "bundle_id": _bundle(other).pk,
        "channel_id": _channel(other).pk,
        "alert_id": (alert := _alert(other)).pk,
        "rule_id": alert.rule_id,
        # Tied to B's run: under A's slug, the run's approval panel must not find it either.
        "approval_id": _approval(other, run.trace_hex).pk,
        **_golden(other),
        "budget_id": _budget(other).pk,
        "cap_id": _step_cap(other).pk,
        "reservation_id": _reservation(other).pk,
    }


def test_another_projects_ids_under_ones_own_slug_are_404(personas):
    """A's admin (and a superuser) asking for B's runs, steps, members, keys, prices, agents and
    sessions through A's URLs: each is looked up in A, so each is 404, and B's objects stay as they were."""
    make_run(personas.project)  # A has data of its own: a 404 below is the scoping, not an empty project
    fill = _other_projects_objects(personas)
    routes = {n: r for n, r in _patterns().items() if "slug" in _params(r) and set(_params(r)) - {"slug"}}
    assert len(routes) >= 11
    superuser = make_user(superuser=True)
    for user in (personas.admin, superuser):
        client = Client()
        client.force_login(user)
        for name, route in sorted(routes.items()):
            url = _url(name, route, fill)
            # Actions answer GET with 405 before they look anything up: ask them with POST.
            method = client.post if ACCESS[name].ok == 405 else client.get
            assert method(url).status_code == 404, f"{method.__name__.upper()} {url} as {user}"
        compare = reverse("run_compare", kwargs={"slug": fill["slug"]})
        assert client.get(compare, {"a": fill["trace_id"], "b": fill["trace_id"]}).status_code == 404
    assert Membership.objects.filter(pk=fill["membership_id"]).exists()
    assert IngestKey.objects.get(pk=fill["key_id"]).is_active


# The URLs made for agents besides api_ingest_key, and what an ingest key's GET gets there: the
# approvals API is POST-only but for one's own request (the walk's was made by another key: 404), and
# the budgets' reservations are POST-only.
AGENT_URLS = {
    "api_approvals": 405,
    "api_approval": 404,
    "api_approval_cancel": 405,
    # Budgets: POST only (and a reservation only for the key that made it).
    "api_budget_reserve": 405,
    "api_budget_reservation_commit": 405,
    "api_budget_reservation_release": 405,
}


def test_an_ingest_key_is_refused_by_every_url_but_its_own(personas):
    """An ingest key reads nothing: every API URL refuses it (403) but GET /api/v1/ingest-key/ and the
    agents' approvals API (AGENT_URLS), and it opens no page (it is no session)."""
    secret = services.ingest_key_create(project=personas.project).secret
    run = make_run(personas.project)
    fill = {
        "slug": personas.project.slug,
        "trace_id": run.trace_hex,
        "span_id": run.spans[1].span_id.hex(),
        "membership_id": Membership.objects.get(project=personas.project, user=personas.admin).pk,
        "key_id": IngestKey.objects.filter(project=personas.project).first().pk,  # type: ignore[union-attr]
        "token_id": services.api_token_create(user=personas.admin).token.pk,
        "override_id": _price_override(personas.project).pk,
        "agent": run.agent,
        "session_id": run.session,
        "bundle_id": _bundle(personas.project).pk,
        "channel_id": _channel(personas.project).pk,
        "alert_id": (alert := _alert(personas.project)).pk,
        "rule_id": alert.rule_id,
        "approval_id": _approval(personas.project).pk,
        **_golden(personas.project),
        "budget_id": _budget(personas.project).pk,
        "cap_id": _step_cap(personas.project).pk,
        "reservation_id": _reservation(personas.project).pk,
    }
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    anonymous = AnonymousUser()
    mismatches = []
    for name, route in sorted(_patterns().items()):
        url = _url(name, route, fill)
        rule = ACCESS[name]
        expected: Any
        if name == "api_ingest_key":
            expected = 200
        elif name in AGENT_URLS:
            expected = AGENT_URLS[name]
        elif rule.kind in ("api", "project_api"):
            expected = 403
        else:
            expected = _expected(rule, anonymous, frozenset())
        response = client.get(url)
        got: int | str = response.status_code
        if got == 302 and response["Location"].startswith(f"{reverse('login')}?next="):
            got = "to login"
        if got != expected and not (isinstance(expected, tuple) and got in expected):
            mismatches.append(f"GET {url} with an ingest key: expected {expected}, got {got}")
    assert not mismatches, "\n".join(mismatches)
