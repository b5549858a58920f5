"""The project's ingest settings page: privacy policy and price overrides, through the real pipeline."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from agentops.tenancy.models import AuditEvent
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces import services
from traces.forms import BUILTIN_RULE_HELP
from traces.ingest.pricing import ModelPrice
from traces.ingest.redact import BUILTIN_RULES, RedactionPolicy, is_content_key
from traces.models import IngestPolicy, PriceOverride, Step
from traces.selectors import ingest_config

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
DEFAULTS = {"builtin": ["api_key", "card", "email"], "custom": [], "drop_content": False}


def _page(project):
    return reverse("project_ingest_settings", kwargs={"slug": project.slug})


def _policy(project):
    return reverse("project_ingest_policy", kwargs={"slug": project.slug})


def _add(project):
    return reverse("project_price_add", kwargs={"slug": project.slug})


def _delete(project, override):
    return reverse("project_price_delete", kwargs={"slug": project.slug, "override_id": override.pk})


def _price(project, model="gpt-4o", input_per_mtok="2", output_per_mtok="8", **cache):
    return services.price_override_set(
        project=project,
        model=model,
        input_per_mtok=Decimal(input_per_mtok),
        output_per_mtok=Decimal(output_per_mtok),
        **{k: Decimal(v) for k, v in cache.items()},
    )


def _last_event(project):
    return AuditEvent.objects.filter(project=project).order_by("-id").first()


# --- Who may see and change it ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [("viewer", 404), ("engineer", 404), ("reviewer", 404), ("admin", 200), ("outsider", 404)],
)
def test_only_admins_open_the_page(client, personas, persona, status):
    client.force_login(personas.by_role()[persona])
    assert client.get(_page(personas.project)).status_code == status


@pytest.mark.parametrize("persona", ["viewer", "engineer", "reviewer", "outsider"])
def test_non_admins_change_nothing(client, personas, persona):
    override = _price(personas.project)
    client.force_login(personas.by_role()[persona])
    project = personas.project
    for url, data in [
        (_page(project), {}),
        (_policy(project), {"builtin": [], "custom": "x+", "drop_content": "on"}),
        (_add(project), {"model": "mine", "input_per_mtok": "1", "output_per_mtok": "1"}),
        (_delete(project, override), {}),
    ]:
        assert client.post(url, data).status_code == 404, url
    assert not IngestPolicy.objects.filter(project=project).exists()
    assert list(PriceOverride.objects.filter(project=project).values_list("model", flat=True)) == ["gpt-4o"]


def test_the_tab_is_shown_to_admins_only(client, personas):
    overview = reverse("project", kwargs={"slug": personas.project.slug})
    client.force_login(personas.admin)
    assert _page(personas.project) in client.get(overview).content.decode()
    client.force_login(personas.engineer)
    assert _page(personas.project) not in client.get(overview).content.decode()


# --- The privacy policy -------------------------------------------------------------------------


def test_without_a_policy_the_page_shows_the_defaults_and_what_each_rule_does(client, personas):
    client.force_login(personas.admin)
    html = client.get(_page(personas.project)).content.decode()
    assert "the defaults below apply" in html
    assert set(BUILTIN_RULE_HELP) == BUILTIN_RULES
    for rule in BUILTIN_RULES:
        assert f'value="{rule}" id="id_builtin_' in html
        label, help_text = BUILTIN_RULE_HELP[rule]
        assert escape(label) in html and escape(help_text) in html
    assert html.count(" checked>") == 3  # every built-in rule; drop content off
    assert "spans stored from now on" in html
    assert "Store no prompts, completions, tool arguments or tool results" in html


def test_saving_the_policy_changes_what_ingest_uses(client, personas):
    project = personas.project
    assert ingest_config(project.pk).redaction == RedactionPolicy(builtin=BUILTIN_RULES)
    client.force_login(personas.admin)
    response = client.post(
        _policy(project),
        {"builtin": ["email"], "custom": "order \\d+\r\n\r\n  secret-\\w+  \norder \\d+\n", "drop_content": "on"},
    )
    assert response.status_code == 302
    assert response["Location"] == _page(project)
    # Blank lines, surrounding spaces and repeats are left out.
    expected = RedactionPolicy(builtin=frozenset({"email"}), custom=("order \\d+", "secret-\\w+"), drop_content=True)
    assert ingest_config(project.pk).redaction == expected

    html = client.get(_page(project)).content.decode()
    assert "Ingest policy saved. It applies to spans stored from now on." in html
    assert "the defaults below apply" not in html
    assert 'value="email" id="id_builtin_2" checked>' in html
    assert 'value="card" id="id_builtin_1">' in html
    assert "order \\d+\nsecret-\\w+</textarea>" in html
    assert 'name="drop_content" id="id_drop_content" checked>' in html

    # Every box unchecked and the textarea emptied: no rules at all, on the same row.
    assert client.post(_policy(project), {"custom": ""}).status_code == 302
    assert ingest_config(project.pk).redaction == RedactionPolicy()
    assert IngestPolicy.objects.filter(project=project).count() == 1
    # Another project keeps its defaults.
    assert ingest_config(personas.other_project.pk).redaction == RedactionPolicy(builtin=BUILTIN_RULES)


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        (
            "order \\d+\n(unclosed",
            "invalid redaction pattern &#x27;(unclosed&#x27;: missing ): (unclosed",
        ),
        ("x*", "invalid redaction pattern &#x27;x*&#x27;: it matches the empty string"),
        ("\n".join(f"p{n}" for n in range(services.MAX_CUSTOM_PATTERNS + 1)), "at most 50 custom patterns"),
        ("a" * (services.MAX_PATTERN_CHARS + 1), "is longer than 500 characters"),
    ],
)
def test_an_invalid_pattern_is_a_form_error_and_nothing_is_saved(client, personas, custom, message):
    project = personas.project
    services.ingest_policy_update(project=project, builtin=["card"], custom=["keep-me"], drop_content=False)
    before = ingest_config(project.pk).redaction
    events = AuditEvent.objects.count()
    client.force_login(personas.admin)
    response = client.post(_policy(project), {"builtin": ["email"], "custom": custom, "drop_content": "on"})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    # The form keeps what was typed, to be corrected.
    assert 'value="email" id="id_builtin_2" checked>' in html
    assert ingest_config(project.pk).redaction == before
    assert AuditEvent.objects.count() == events


def test_an_invalid_pattern_on_a_project_without_a_policy_creates_no_row(client, personas):
    client.force_login(personas.admin)
    assert client.post(_policy(personas.project), {"custom": "[a-"}).status_code == 400
    assert not IngestPolicy.objects.filter(project=personas.project).exists()


def test_policy_changes_are_audited_with_before_and_after(client, personas):
    project = personas.project
    client.force_login(personas.admin)
    client.post(_policy(project), {"builtin": ["card", "email"], "custom": "acct-\\d+"})
    event = _last_event(project)
    assert (event.action, event.actor, event.target_type) == ("ingest_policy.update", personas.admin, "ingest_policy")
    # The project had no row: the defaults were in effect, and that is what it changed from.
    assert event.before == DEFAULTS
    after = {"builtin": ["card", "email"], "custom": ["acct-\\d+"], "drop_content": False}
    assert event.after == after

    client.post(_policy(project), {"builtin": ["card", "email"], "custom": "acct-\\d+", "drop_content": "on"})
    event = _last_event(project)
    assert (event.before, event.after) == (after, after | {"drop_content": True})

    # Saving the same settings again changes nothing, so it records nothing.
    count = AuditEvent.objects.filter(project=project).count()
    client.post(_policy(project), {"builtin": ["card", "email"], "custom": "acct-\\d+", "drop_content": "on"})
    assert AuditEvent.objects.filter(project=project).count() == count

    audit_page = client.get(reverse("project_audit", kwargs={"slug": project.slug})).content.decode()
    assert "ingest_policy.update" in audit_page
    assert "drop_content: True" in audit_page


# --- Price overrides ----------------------------------------------------------------------------


def test_admin_adds_a_price_and_ingest_uses_it(client, personas):
    project = personas.project
    client.force_login(personas.admin)
    response = client.post(
        _add(project),
        {"model": " My-FT-Model ", "input_per_mtok": "2.50", "output_per_mtok": "10", "cache_read_per_mtok": "0.25"},
    )
    assert response.status_code == 302
    assert response["Location"] == _page(project)
    assert dict(ingest_config(project.pk).price_overrides) == {
        "my-ft-model": ModelPrice(
            input_per_mtok=Decimal("2.5"),
            output_per_mtok=Decimal("10"),
            cache_read_per_mtok=Decimal("0.25"),
            cache_write_per_mtok=None,
        )
    }
    html = client.get(_page(project)).content.decode()
    start = html.index('<td class="mono">My-FT-Model</td>')
    row = html[start : html.index("</tr>", start)]
    assert [cell.split("</td>")[0] for cell in row.split("<td>")[1:5]] == ["2.5", "10", "0.25", "as input"]

    event = _last_event(project)
    assert (event.action, event.actor, event.target_label, event.before) == (
        "price_override.set",
        personas.admin,
        "My-FT-Model",
        None,
    )
    assert event.after == {
        "model": "My-FT-Model",
        "input_per_mtok": "2.5",
        "output_per_mtok": "10",
        "cache_read_per_mtok": "0.25",
        "cache_write_per_mtok": None,
    }


@pytest.mark.parametrize("model", ["gpt-4o", "GPT-4o", " gpt-4o "])
def test_a_model_priced_already_is_a_form_error(client, personas, model):
    _price(personas.project, "gpt-4o")
    client.force_login(personas.admin)
    response = client.post(_add(personas.project), {"model": model, "input_per_mtok": "1", "output_per_mtok": "1"})
    assert response.status_code == 400
    assert "gpt-4o has a price already: delete it first to change it" in response.content.decode()
    override = PriceOverride.objects.get(project=personas.project)
    assert (override.model, override.input_per_mtok) == ("gpt-4o", Decimal("2"))


def test_the_same_model_may_have_a_price_in_another_project(client, personas):
    _price(personas.other_project, "gpt-4o")
    client.force_login(personas.admin)
    data = {"model": "gpt-4o", "input_per_mtok": "1", "output_per_mtok": "1"}
    assert client.post(_add(personas.project), data).status_code == 302
    assert PriceOverride.objects.filter(model="gpt-4o").count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": "m", "input_per_mtok": "-1", "output_per_mtok": "1"}, "greater than or equal to 0"),
        ({"model": "m", "input_per_mtok": "1"}, "This field is required."),
        ({"model": "", "input_per_mtok": "1", "output_per_mtok": "1"}, "This field is required."),
        ({"model": "m", "input_per_mtok": "0.0000001", "output_per_mtok": "1"}, "no more than 6 decimal places"),
        ({"model": "m", "input_per_mtok": "abc", "output_per_mtok": "1"}, "Enter a number."),
    ],
)
def test_an_invalid_price_is_a_form_error(client, personas, data, message):
    client.force_login(personas.admin)
    response = client.post(_add(personas.project), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PriceOverride.objects.filter(project=personas.project).exists()


def test_admin_deletes_a_price(client, personas):
    project = personas.project
    override, kept = _price(project, "gpt-4o"), _price(project, "claude-x", "3", "15")
    client.force_login(personas.admin)
    response = client.post(_delete(project, override))
    assert response.status_code == 302
    assert set(ingest_config(project.pk).price_overrides) == {"claude-x"}
    event = _last_event(project)
    assert (event.action, event.actor, event.after) == ("price_override.delete", personas.admin, None)
    assert event.before == {
        "model": "gpt-4o",
        "input_per_mtok": "2",
        "output_per_mtok": "8",
        "cache_read_per_mtok": None,
        "cache_write_per_mtok": None,
    }
    # Through htmx the answer is empty: the row is swapped out.
    response = client.post(_delete(project, kept), **HTMX)
    assert (response.status_code, response.content) == (200, b"")
    assert not PriceOverride.objects.filter(project=project).exists()
    assert "No prices of your own" in client.get(_page(project)).content.decode()


def test_a_price_of_another_project_is_404(client, personas):
    foreign = _price(personas.other_project)
    client.force_login(personas.admin)
    assert client.post(_delete(personas.project, foreign)).status_code == 404
    assert client.post(_delete(personas.project, foreign), **HTMX).status_code == 404
    assert PriceOverride.objects.filter(pk=foreign.pk).exists()


def test_the_page_costs_the_same_queries_for_one_price_or_ten(client, personas):
    project = personas.project
    services.ingest_policy_update(project=project, builtin=["email"], custom=["x\\d"], drop_content=False)
    _price(project, "model-0")
    client.force_login(personas.admin)
    with CaptureQueriesContext(connection) as one:
        assert client.get(_page(project)).status_code == 200
    for n in range(1, 10):
        _price(project, f"model-{n}", cache_read_per_mtok="0.1", cache_write_per_mtok="1")
    with CaptureQueriesContext(connection) as ten:
        response = client.get(_page(project))
    assert response.content.decode().count('<tr id="price-') == 10
    assert len(ten) == len(one)


# --- End to end: what the next spans store ------------------------------------------------------


def _steps(project, trace):
    return list(Step.objects.filter(project=project, trace_id=trace.trace_hex).order_by("start_time", "span_id"))


# Message text of tests.otlp.AgentTrace: the user's question, the model's answer, the tool's result.
CONTENT = ("Where is order", "Answer 0", "shipped")


def _stored_text(step):
    return json.dumps([step.input, step.output, step.attributes, step.events])


def test_after_turning_drop_content_on_new_spans_store_no_content(client, personas):
    project = personas.project
    before = make_run(project)
    text_before = " ".join(_stored_text(s) for s in _steps(project, before))
    assert all(content in text_before for content in CONTENT)

    client.force_login(personas.admin)
    data = {"builtin": sorted(BUILTIN_RULES), "custom": "", "drop_content": "on"}
    assert client.post(_policy(project), data).status_code == 302
    after = make_run(project, AgentTrace())

    steps = _steps(project, after)
    assert [s.kind for s in steps] == ["AGENT", "LLM", "LLM", "TOOL"]
    for step in steps:
        assert (step.input, step.output) == (None, None), step.name
        assert not [k for k in step.attributes if is_content_key(k)], step.name
        assert not [c for c in CONTENT if c in _stored_text(step)], step.name
    # Usage and structure are still kept.
    assert [s.input_tokens for s in steps if s.kind == "LLM"] == [1000, 1000]
    assert steps[-1].tool_name == "lookup_order"
    # Spans stored before the change keep what they hold.
    assert " ".join(_stored_text(s) for s in _steps(project, before)) == text_before


def test_a_custom_pattern_and_a_price_set_on_the_page_apply_to_the_next_run(client, personas):
    project = personas.project
    client.force_login(personas.admin)
    assert client.post(_policy(project), {"builtin": ["email"], "custom": "order \\d+"}).status_code == 302
    data = {"model": "GPT-4o", "input_per_mtok": "2", "output_per_mtok": "8"}
    assert client.post(_add(project), data).status_code == 302

    trace = make_run(project)
    llm = [s for s in _steps(project, trace) if s.kind == "LLM"]
    assert len(llm) == 2
    for step in llm:
        text = json.dumps(step.input)
        assert "[REDACTED:custom]" in text and "order 10" not in text
        # 1000 input tokens at $2 and 100 output tokens at $8 per million.
        assert (step.priced, step.cost_usd) == (True, Decimal("0.0028"))


def test_a_saved_pattern_that_cannot_run_drops_content_and_the_page_says_why(client, personas):
    # Saved before custom patterns ran on RE2 (the service refuses it now): a lookbehind. Ingest must
    # neither fail every batch nor store what the pattern was meant to hide.
    project = personas.project
    IngestPolicy.objects.create(
        project=project, builtin_redactions=["email"], custom_patterns=[r"(?<=order )\d+", "order"]
    )
    assert ingest_config(project.pk).redaction.drop_content

    steps = _steps(project, make_run(project))
    assert [s.kind for s in steps] == ["AGENT", "LLM", "LLM", "TOOL"]
    for step in steps:
        assert (step.input, step.output) == (None, None), step.name
        assert not [c for c in CONTENT if c in _stored_text(step)], step.name

    client.force_login(personas.admin)
    page = client.get(_page(project)).content.decode()
    assert "Message content is being dropped" in page
    assert escape(r"(?<=order )\d+") in page and "invalid perl operator" in page

    # Fixed on the page: content is stored again, redacted.
    assert client.post(_policy(project), {"builtin": ["email"], "custom": "order \\d+"}).status_code == 302
    assert "Message content is being dropped" not in client.get(_page(project)).content.decode()
    llm = [s for s in _steps(project, make_run(project)) if s.kind == "LLM"]
    assert llm and all("[REDACTED:custom]" in json.dumps(s.input) for s in llm)
