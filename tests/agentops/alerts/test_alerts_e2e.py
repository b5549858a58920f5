"""End to end with real processes, as a user meets it: `agentops up` (its own Celery worker and beat),
a baseline and then a regressed bundle sent through the real OpenTelemetry exporter, and nothing set up
but two webhook channels. The default drift rule opens an alert with no manual step; its signed webhook
reaches a local receiver once; when traffic goes back to the baseline the alert resolves and says so;
a receiver that answers 500 leaves its channel shown as failing, with the attempt recorded.

The beat intervals are shortened (ALERTS_EVALUATE_SECONDS, BUNDLES_RECORD_SECONDS) and the drift
window set to a minute through the API, so that the test takes one or two minutes, not ten; with the
defaults (60 s each) the same chain answers within two minutes of the regressed traffic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from agentops.notify.signing import verify
from tests.agentops.conftest import UpProcess, run_agentops, start_up
from tests.agentops.notify.receiver import Receiver, receiver

pytestmark = pytest.mark.slow

AGENT = "support-bot"
SECRET = "whsec_e2e-test-secret-0123456789"
CREDENTIALS = """
from agentops.tenancy import services
from agentops.tenancy.models import Project, User
project = Project.objects.get()
print("slug", project.slug)
print("token", services.api_token_create(user=User.objects.get(email="admin@localhost")).secret)
print("key", services.ingest_key_create(project=project, name="e2e").secret)
"""


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    process = start_up(
        tmp_path / "home", NOTIFY_ALLOW_PRIVATE_URLS="true", ALERTS_EVALUATE_SECONDS="5", BUNDLES_RECORD_SECONDS="5"
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def send_runs(up: UpProcess, key: str, bundle: str, n: int, *, regressed: bool = False) -> None:
    """`n` finished runs of `bundle` through the OTLP/HTTP exporter: an agent, a model call and a tool
    call each; a regressed bundle's tool call fails and it calls the model twice more."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    resource = {"service.name": AGENT, "agentops.bundle.id": bundle, "deployment.environment.name": "prod"}
    provider = TracerProvider(resource=Resource.create(resource))
    exporter = OTLPSpanExporter(endpoint=up.url("/v1/traces"), headers={"Authorization": f"Bearer {key}"})
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.alerts_e2e")
    for i in range(n):
        with tracer.start_as_current_span(
            f"invoke_agent {AGENT}", attributes={"gen_ai.operation.name": "invoke_agent", "user.id": f"u{i % 7}"}
        ):
            for _ in range(3 if regressed else 1):
                with tracer.start_as_current_span(
                    "chat gpt-4o",
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 100,
                        "gen_ai.usage.output_tokens": 20,
                    },
                ):
                    pass
            with tracer.start_as_current_span(
                "execute_tool lookup_order",
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"},
            ) as tool:
                if regressed:
                    tool.set_status(Status(StatusCode.ERROR, "order service down"))
    assert provider.force_flush(30_000)
    provider.shutdown()


def wait_for(check: Callable[[], Any], deadline: float, what: str, up: UpProcess) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"{what} did not happen within {deadline} s:\n{up.output[-5000:]}")


def events(hook: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in list(hook.requests)]


def drift_events(hook: Receiver, event: str) -> list[dict[str, Any]]:
    return [e for e in events(hook) if e["event"] == event and e["alert"]["kind"] == "drift"]


def test_a_regressed_bundle_opens_a_signed_alert_that_resolves_after_the_rollback(up: UpProcess) -> None:
    made = run_agentops("shell", "-c", CREDENTIALS, env=up.env())
    assert made.returncode == 0, made.stderr
    values = dict(line.split(" ", 1) for line in made.stdout.splitlines() if " " in line)
    slug, key = values["slug"], values["key"]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {values['token']}"
    base = up.url(f"/api/v1/projects/{slug}")

    with receiver() as hook, receiver(status=500) as broken:
        for name, target in (("on-call", hook), ("broken", broken)):
            made_channel = api.post(
                f"{base}/channels/", json={"name": name, "kind": "webhook", "url": target.url, "secret": SECRET}
            )
            assert made_channel.status_code == 201, made_channel.text
        rules = api.get(f"{base}/alert-rules/").json()["results"]
        [drift] = [r for r in rules if r["kind"] == "drift" and r["is_default"]]
        patched = api.patch(f"{base}/alert-rules/{drift['id']}/", json={"window_minutes": 1})
        assert patched.status_code == 200, patched.text

        send_runs(up, key, "v1", 30)
        send_runs(up, key, "v2", 30, regressed=True)
        opened = wait_for(lambda: drift_events(hook, "opened"), 120, "an opened drift webhook", up)[0]
        alert = opened["alert"]
        assert (alert["kind"], alert["state"], alert["severity"]) == ("drift", "open", "critical")
        assert alert["scope"] == {"agent": AGENT, "bundle": "v2", "environment": "prod"}
        assert "error_rate" in alert["summary"]
        failing = {m["name"]: m for m in alert["details"]["metrics"] if m["verdict"] == "fail"}
        assert failing["error_rate"]["baseline_value"] == 0 and failing["error_rate"]["candidate_value"] == 1
        assert failing["error_rate"]["p_value"] < 0.001
        assert "bundle=v2" in alert["runs_url"] and alert["url"].startswith(up.url(f"/p/{slug}/alerts/"))
        request = next(r for r in hook.requests if json.loads(r.body)["alert"]["id"] == alert["id"])
        assert verify(SECRET, request.headers["X-Agentops-Signature"], request.body)
        assert request.headers["X-Agentops-Event"] == "opened"

        # Rolled back: only the baseline gets traffic; once the window holds no regressed run, resolved.
        send_runs(up, key, "v1", 5)
        resolved = wait_for(lambda: drift_events(hook, "resolved"), 150, "a resolved drift webhook", up)[0]
        assert resolved["alert"]["id"] == alert["id"] and resolved["alert"]["state"] == "resolved"
        assert len(drift_events(hook, "opened")) == 1, "one alert, notified once"
        # The default error-rate rule saw the failures too (its own alert); it stays open, its hour not over.
        assert {e["alert"]["kind"] for e in events(hook)} == {"drift", "threshold"}

        listed = api.get(f"{base}/alerts/", params={"state": "resolved"}).json()["results"]
        assert [a["id"] for a in listed] == [alert["id"]]
        history = api.get(f"{base}/alerts/{alert['id']}/").json()["events"]
        assert history[0]["event"] == "opened" and history[-1]["event"] == "resolved"

        channels = {c["name"]: c for c in api.get(f"{base}/channels/").json()["results"]}
        # Every message to it failed and was retried; after five failures in a row it is disabled, and shown so.
        assert channels["broken"]["state"] in {"failing", "disabled"}, channels["broken"]
        assert channels["broken"]["consecutive_failures"] >= 1 and "500" in channels["broken"]["last_error"]
        assert channels["on-call"]["state"] == "ok"
        assert len(broken.requests) > len({json.loads(r.body)["delivery"] for r in broken.requests}), "retried"
