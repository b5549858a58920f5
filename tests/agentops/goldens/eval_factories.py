"""Eval runs made as `agentops eval` makes them, through the services, on real stored runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentops.goldens.eval_models import EvalRun
from agentops.goldens.eval_services import eval_create, eval_score, results_submit
from agentops.goldens.models import GoldenSet
from agentops.goldens.services import case_add, golden_set_create
from tests.factories import make_run
from tests.otlp import AgentTrace

ASSERTIONS = [{"type": "equals", "value": "shipped"}, {"type": "no_error"}]


def golden_set(
    project, name: str = "smoke", cases: int = 2, gate: dict[str, Any] | None = None
) -> tuple[GoldenSet, list[str]]:
    made = golden_set_create(project=project, user=None, data={"name": name})
    keys = [
        case_add(
            golden_set=made, user=None, data={"input": {"q": f"order {i}?"}, "assertions": ASSERTIONS}, payloads=True
        ).case_key
        for i in range(cases)
    ]
    if gate is not None:
        made.gate = gate
        made.save(update_fields=["gate"])
    return made, keys


@dataclass
class Evaluated:
    eval_run: EvalRun
    traces: dict[str, str]  # case key -> trace id (hex) of its run


def evaluate(
    project, set_name: str, bundle: str, outputs: dict[str, Any], *, baseline: str = "", score: bool = True, **body: Any
) -> Evaluated:
    """An eval run of `bundle` whose agent answered `outputs` (case key -> output), each on a stored run."""
    data = {"set": set_name, "bundle": bundle, **({"baseline": baseline} if baseline else {}), **body}
    eval_run = eval_create(project=project, user=None, data=data).eval_run
    traces, results = {}, []
    for key, output in outputs.items():
        run = make_run(project, AgentTrace())
        traces[key] = run.trace_hex
        results.append({"case_key": key, "attempt": 1, "output": output, "trace_id": run.trace_hex})
    if results:
        results_submit(eval_run=eval_run, data=results)
    if score:
        eval_run = eval_score(eval_run=eval_run, user=None, final=True).eval_run
    return Evaluated(EvalRun.objects.get(pk=eval_run.pk), traces)
