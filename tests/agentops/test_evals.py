"""agentops.evals.run: an agent written in Python evaluated in-process against a real `agentops web`, its
spans exported by the real OTel Python SDK over OTLP/HTTP; and the module imports no Django."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from agentops import evals
from agentops.goldens.services import case_add, golden_set_create
from agentops.tenancy import services
from agentops.tenancy.roles import Role
from tests.agentops.conftest import UpProcess
from tests.factories import make_member, make_project
from tests.traces.conftest import make_engineer, setup_for
from tests.traces.servers import serve

ROOT = Path(__file__).resolve().parents[2]
ASSERTIONS = [
    {"type": "equals", "value": "shipped"},
    {"type": "tools_called", "tools": ["lookup_order"]},
    {"type": "no_error"},
]


def _golden_set(project: Any, cases: int = 2) -> list[str]:
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    return [
        case_add(
            golden_set=golden_set,
            user=None,
            data={"input": {"question": f"order {i}?"}, "assertions": ASSERTIONS},
            payloads=True,
        ).case_key
        for i in range(cases)
    ]


def test_importing_agentops_evals_loads_no_django(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from agentops import evals\n"
        "evals.run\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'rest_framework'))))\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "DATABASE_URL": "postgres://mypy@127.0.0.1:1/none"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.django_db(transaction=True)
def test_a_token_that_may_not_manage_sets_raises_a_clear_error_and_runs_no_task(live_server: Any) -> None:
    project = make_project()
    _golden_set(project, cases=1)
    viewer = services.api_token_create(user=make_member(project, Role.VIEWER)).secret
    called: list[Any] = []

    with pytest.raises(evals.EvalError, match="may manage golden sets in that project"):
        evals.run(set="smoke", task=called.append, project=project.slug, bundle="v1", url=live_server.url, token=viewer)
    with pytest.raises(evals.EvalError, match="no golden set of that name"):
        engineer = services.api_token_create(user=make_engineer(project)).secret
        evals.run(
            set="nope", task=called.append, project=project.slug, bundle="v1", url=live_server.url, token=engineer
        )
    assert called == []


def _healthy(process: UpProcess) -> bool:
    try:
        return requests.get(process.url("/healthz"), timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def _tool(tracer: Any, name: str, question: str) -> None:
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.arguments": json.dumps({"q": question}),
    }
    with tracer.start_as_current_span(f"execute_tool {name}", attributes=attributes):
        pass


@pytest.mark.slow
def test_a_python_agent_passes_then_a_regressing_one_fails_naming_case_assertion_and_run(
    transactional_db: None, tmp_path: Path
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    project = make_project()
    setup = setup_for(project, make_engineer(project))
    first, second = _golden_set(project)
    with serve("web", tmp_path / "web-home", "--workers", "1", "--threads", "2", ready=_healthy) as web:
        url = web.url("").rstrip("/")
        provider = TracerProvider(resource=Resource.create({"service.name": "py-eval-agent"}))
        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"x-api-key": setup.key})
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("test-agent")

        def good(case_input: dict[str, str]) -> str:  # a plain function, run in threads
            _tool(tracer, "lookup_order", case_input["question"])
            return "shipped"

        async def regressed(case_input: dict[str, str]) -> Any:  # an async one
            await asyncio.sleep(0)
            if case_input["question"] == "order 0?":
                _tool(tracer, "cancel_order", case_input["question"])  # the wrong tool
                return "shipped"
            _tool(tracer, "lookup_order", case_input["question"])
            raise RuntimeError("the model timed out")  # no output, and an error in the trace

        common: dict[str, Any] = {
            "project": project.slug,
            "url": url,
            "token": setup.token,
            "tracer_provider": provider,
        }
        gate = tmp_path / "agentops-eval.toml"
        gate.write_text('[gate]\ntask_success = 1.0\n"accuracy.tools_called" = 1.0\n')
        passed = evals.run(
            set="smoke", task=good, bundle="v1", repeat=2, concurrency=2, gate=gate, wait_traces=60, **common
        )
        failed = evals.run(set="smoke@2", task=regressed, bundle="v2", baseline="v1", wait_traces=60, **common)
        provider.shutdown()

    assert (passed.verdict, passed.passed, passed.exit_code, passed.pass_rate) == ("pass", True, 0, 1.0), passed.raw
    assert [c.case_key for c in passed.cases] == [first, second]
    assert all(c.passed and c.run_url.startswith(f"{url}/p/{project.slug}/runs/") for c in passed.cases)
    # Each attempt was its own run, found by the trace id run() submitted.
    traces = {a["trace_id"] for case in passed.raw["cases"] for a in case["attempts"]}
    assert len(traces) == 4 and None not in traces
    assert passed.errors == ()

    assert (failed.verdict, failed.passed, failed.exit_code) == ("fail", False, 1), failed.raw
    by_key = {c.case_key: c for c in failed.cases}
    assert by_key[first].failed_assertion == "tools_called: failed"
    assert "lookup_order (expected call 1) missing; called cancel_order" in by_key[first].reason
    assert by_key[second].failed_assertion == "equals: failed"
    assert by_key[first].run_url.startswith(f"{url}/p/{project.slug}/runs/")
    outcomes = {o["type"]: o["status"] for o in failed.raw["cases"][1]["attempts"][0]["outcomes"]}
    assert outcomes == {"equals": "failed", "tools_called": "passed", "no_error": "failed"}
    assert failed.errors == (f"case {second} attempt 1: RuntimeError: the model timed out",)
    assert any(r.startswith("regression against eval run") and first in r for r in failed.reasons)
    assert f"| {first} | fail | tools\\_called: failed |" in failed.summary()
    assert b"cancel_order" in failed.junit() and "v2 on smoke v2: fail" in failed.table()


@pytest.mark.django_db(transaction=True)
def test_an_untraced_task_is_scored_on_its_outputs_at_once(live_server: Any, capsys: Any) -> None:
    from opentelemetry.trace import NoOpTracerProvider

    project = make_project()
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    keys = [
        case_add(
            golden_set=golden_set,
            user=None,
            data={"input": {"n": i}, "assertions": [{"type": "json_equal", "value": {"double": 2 * i}}]},
            payloads=True,
        ).case_key
        for i in range(3)
    ]
    token = services.api_token_create(user=make_engineer(project)).secret

    def double(case_input: dict[str, int]) -> dict[str, int]:
        if case_input["n"] == 2:
            raise ValueError("no")
        return {"double": 2 * case_input["n"]}

    result = evals.run(
        set="smoke", task=double, project=project.slug, bundle="v1", url=live_server.url, token=token,
        concurrency=3, wait_traces=5, tracer_provider=NoOpTracerProvider(),
    )  # fmt: skip

    # Nothing was traced, so nothing was waited for: scored at once, not after wait_traces.
    printed = capsys.readouterr().err
    assert "no attempt was traced" in printed and "waiting for their trace after 0 s" in printed, printed

    assert (result.verdict, result.exit_code, result.pass_rate) == ("fail", 1, 2 / 3)
    assert [(c.case_key, c.passed, c.failed_assertion) for c in result.cases] == [
        (keys[0], True, ""), (keys[1], True, ""), (keys[2], False, "json_equal: failed"),
    ]  # fmt: skip
    assert result.errors == (f"case {keys[2]} attempt 1: ValueError: no",)
    assert all(c.run_url == "" for c in result.cases)
