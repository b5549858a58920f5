"""Eval runs as plain dicts for the API.

Without the payload permission an eval run shows its verdict, the gate's reasons (made of case keys,
assertion types, numbers and trace ids) and each attempt's pass/fail and assertion statuses, but never
the agent's outputs nor the scorers' own reasons (`detail`, `reason`), which may quote them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentops.goldens.eval_models import EvalCaseResult, EvalRun

RunURL = Callable[[str], str]  # trace id (hex) -> the absolute URL of its run's replay


def _who(user: Any) -> str | None:
    return str(user) if user is not None else None


def _reason(reason: dict[str, Any], payloads: bool, run_url: RunURL) -> dict[str, Any]:
    shown = dict(reason) if payloads else {k: v for k, v in reason.items() if k != "detail"}
    if shown.get("trace_id"):
        shown["run_url"] = run_url(shown["trace_id"])
    return shown


def eval_run_dict(eval_run: EvalRun, *, payloads: bool, run_url: RunURL) -> dict[str, Any]:
    return {
        "id": eval_run.pk,
        "set": eval_run.set_name,
        "version": eval_run.set_version,
        "bundle": eval_run.bundle,
        "baseline": eval_run.baseline_bundle or None,
        "baseline_eval_run": eval_run.baseline_id,
        "repeat": eval_run.repeat,
        "state": eval_run.state,
        "gate": eval_run.gate,
        "verdict": eval_run.verdict or None,
        "reasons": [_reason(r, payloads, run_url) for r in eval_run.reasons],
        "metrics": eval_run.metrics,
        "created_by": _who(eval_run.created_by),
        "created_at": eval_run.created_at.isoformat(),
        "finished_at": eval_run.finished_at.isoformat() if eval_run.finished_at else None,
    }


def _attempt_dict(result: EvalCaseResult, *, payloads: bool, run_url: RunURL) -> dict[str, Any]:
    trace = result.trace_id.hex if result.trace_id else None
    data: dict[str, Any] = {
        "attempt": result.attempt,
        "trace_id": trace,
        "run_url": run_url(trace) if trace else None,
        "passed": result.passed,
        "latency_ms": result.latency_ms,
        "cost_usd": float(result.cost_usd) if result.cost_usd is not None else None,
        "outcomes": [o if payloads else {k: v for k, v in o.items() if k != "reason"} for o in result.outcomes],
    }
    if payloads:
        data["output"] = result.output
    return data


def cases_dicts(
    eval_run: EvalRun, results: list[EvalCaseResult], case_keys: list[str], *, payloads: bool, run_url: RunURL
) -> list[dict[str, Any]]:
    """Each case of the run with its attempts; `passed` by majority once every attempt is scored, else
    None. `case_keys` gives the order (the set version's); a case only in results comes after."""
    by_case: dict[str, list[EvalCaseResult]] = {key: [] for key in case_keys}
    for result in results:
        by_case.setdefault(result.case_key, []).append(result)
    shown = []
    for key, rows in by_case.items():
        scored = len(rows) == eval_run.repeat and all(r.passed is not None for r in rows)
        # The gate's rule (agentops.goldens.gate.case_passes): a strict majority of the K attempts.
        majority = 2 * sum(bool(r.passed) for r in rows) > eval_run.repeat
        passed = majority if scored or eval_run.finished_at else None
        shown.append(
            {
                "case_key": key,
                "passed": passed,
                "attempts": [_attempt_dict(r, payloads=payloads, run_url=run_url) for r in rows],
            }
        )
    return shown
