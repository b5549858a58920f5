"""A golden set's own gate: used by an eval run whose request names none; the request's gate (a CI job's
agentops-eval.toml) wins. Edited on a page (Engineers and above) and through the API, audited."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from agentops.goldens.eval_models import EvalRun
from agentops.goldens.eval_services import eval_create
from agentops.goldens.models import GoldenSet
from agentops.goldens.services import case_add, golden_set_create
from agentops.tenancy import services
from agentops.tenancy.models import AuditEvent
from agentops.tenancy.roles import Role
from tests.agentops.goldens.eval_factories import golden_set
from tests.agentops.goldens.test_eval_cli import evaluate as run_cli
from tests.factories import make_member, make_project

GATE = {"task_success": 0.5, "accuracy": {"tools_called": 0.9}, "p95_latency_ms": 8000}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {services.api_token_create(user=user).secret}")


@pytest.mark.django_db
def test_an_eval_run_without_a_gate_takes_the_sets_and_the_requests_gate_wins(personas):
    project = personas.project
    golden_set(project, gate=GATE)
    from_set = eval_create(project=project, user=None, data={"set": "smoke", "bundle": "v1"}).eval_run
    assert from_set.gate == {"task_success": 0.5, "accuracy": {"tools_called": 0.9}, "p95_latency_ms": 8000.0}
    asked = eval_create(project=project, user=None, data={"set": "smoke", "bundle": "v1", "gate": {"task_success": 1}})
    assert asked.eval_run.gate == {"task_success": 1.0}
    # An empty [gate] table is a gate too: the defaults, not the set's.
    empty = eval_create(project=project, user=None, data={"set": "smoke", "bundle": "v1", "gate": {}})
    assert empty.eval_run.gate == {}
    events = AuditEvent.objects.filter(action="eval_run.create").order_by("id")
    assert [(e.after or {})["gate_from"] for e in events] == ["set", "request", "request"]


@pytest.mark.django_db
def test_the_api_reads_and_patches_the_gate_refusing_bad_keys_and_non_engineers(personas):
    project = personas.project
    golden_set(project)
    url = f"/api/v1/projects/{project.slug}/golden-sets/smoke/"
    api = _api(personas.engineer)

    answer = api.patch(url, json.dumps({"gate": {"accuracy.tools_called": 0.9}}), content_type="application/json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["gate"] == {"accuracy": {"tools_called": 0.9}}
    assert _api(personas.viewer).get(url).json()["gate"] == {"accuracy": {"tools_called": 0.9}}
    event = AuditEvent.objects.get(action="golden_set.gate")
    assert event.before == {"gate": {}} and event.after == {"gate": {"accuracy": {"tools_called": 0.9}}}

    # A typo names its key, and nothing of the request is saved (not even the description beside it).
    bad = {"description": "changed", "gate": {"task_sucess": 0.9}}
    refused = api.patch(url, json.dumps(bad), content_type="application/json")
    assert refused.status_code == 400 and "gate.task_sucess" in refused.json()
    saved = GoldenSet.objects.get(project=project, name="smoke")
    assert saved.description == "" and saved.gate == {"accuracy": {"tools_called": 0.9}}

    viewer = _api(personas.viewer).patch(url, json.dumps({"gate": {}}), content_type="application/json")
    assert viewer.status_code == 404
    outsider = _api(personas.outsider).patch(url, json.dumps({"gate": {}}), content_type="application/json")
    assert outsider.status_code == 404
    assert GoldenSet.objects.get(pk=saved.pk).gate == {"accuracy": {"tools_called": 0.9}}
    # Renaming still works as before, without a gate.
    renamed = api.patch(url, json.dumps({"name": "smoke2"}), content_type="application/json")
    assert renamed.status_code == 200 and renamed.json()["gate"] == {"accuracy": {"tools_called": 0.9}}


@pytest.mark.django_db
def test_the_gate_page_saves_an_audited_gate_and_shows_errors_beside_the_field(personas):
    project = personas.project
    made, _ = golden_set(project, gate={"task_success": 0.75})
    url = reverse("golden_set_gate", kwargs={"slug": project.slug, "set_name": "smoke"})
    client = _client(personas.engineer)

    page = client.get(url).content.decode()
    assert 'name="task_success" value="0.75"' in page

    saved = client.post(
        url, {"task_success": "0.9", "accuracy": "tools_called = 0.92\n\nno_error=1", "p95_latency_ms": ""}
    )
    assert saved.status_code == 302
    made.refresh_from_db()
    assert made.gate == {"task_success": 0.9, "accuracy": {"no_error": 1.0, "tools_called": 0.92}}
    assert AuditEvent.objects.filter(action="golden_set.gate", actor=personas.engineer).exists()

    refused = client.post(url, {"task_success": "1.5", "accuracy": ""})
    assert refused.status_code == 400 and "give a share from 0 to 1" in refused.content.decode()
    typo = client.post(url, {"accuracy": "tool_calls = 0.9"})
    assert typo.status_code == 400 and "not an assertion type" in typo.content.decode()
    garbled = client.post(url, {"accuracy": "tools_called 0.9"})
    assert garbled.status_code == 400 and "line 1: write assertion type = share" in garbled.content.decode()
    made.refresh_from_db()
    assert made.gate == {"task_success": 0.9, "accuracy": {"no_error": 1.0, "tools_called": 0.92}}

    assert _client(personas.viewer).get(url).status_code == 404
    assert _client(personas.viewer).post(url, {"task_success": "0"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_cli_toml_gate_still_wins_over_the_sets(live_server, tmp_path: Path):
    """A real `agentops eval` process: with the set's gate alone (task success 0) a wrong answer passes;
    with a config whose [gate] asks every case to pass, the same run fails."""
    project = make_project()
    made = golden_set_create(project=project, user=None, data={"name": "smoke"})
    case_add(golden_set=made, user=None, data={"input": {"q": 1}, "assertions": [{"type": "equals", "value": "x"}]},
             payloads=True)  # fmt: skip
    made.gate = {"task_success": 0.0}
    made.save(update_fields=["gate"])
    token = services.api_token_create(user=make_member(project, Role.ENGINEER)).secret
    agent = tmp_path / "agent.py"
    agent.write_text("print('wrong')\n")
    (tmp_path / "ci.toml").write_text("[gate]\ntask_success = 1.0\n")
    home = tmp_path / "cli-home"
    home.mkdir()
    common = ("--project", project.slug, "--set", "smoke", "--cmd", f"{sys.executable} {agent}", "--wait-traces", "0")

    with_set_gate = run_cli(home, live_server.url, token, *common, "--bundle", "v1")
    with_toml = run_cli(home, live_server.url, token, *common, "--bundle", "v2", "--config", str(tmp_path / "ci.toml"))

    assert with_set_gate.returncode == 0, with_set_gate.stdout + with_set_gate.stderr
    assert with_toml.returncode == 1, with_toml.stdout + with_toml.stderr
    gates = dict(EvalRun.objects.filter(project=project).values_list("bundle", "gate"))
    assert gates == {"v1": {"task_success": 0.0}, "v2": {"task_success": 1.0}}
