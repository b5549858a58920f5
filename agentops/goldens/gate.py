"""The eval gate: from scored attempts (and a baseline's) to a verdict. Pure: no database.

A case is run K times (attempts); an attempt passes when every one of its assertions passed (skipped and
error outcomes are not passes); a case passes when a strict majority of its K attempts passed (2 of 3,
3 of 4: a tie is not a majority). An attempt that was never submitted or scored is a failed one.

The gate config (`clean_gate`), every key optional:

    task_success       0..1   the share of cases passing must be at least this (default 1: every case)
    accuracy.<type>    0..1   the share of that assertion type's outcomes, over all attempts, that passed
                              (also as {"accuracy": {"tools_called": 0.92}}, as TOML writes it)
    p95_latency_ms     >= 0   the 95th percentile (nearest rank) of the attempts' run latency
    cost_per_run_usd   >= 0   the mean cost of an attempt's run

Against a baseline (the baseline bundle's latest done eval on the same set version):
- a case that passed there and fails now is a regression: the gate fails, always;
- a share of passing cases lower than the baseline's by a significant margin (Fisher's exact test,
  one-sided, ALPHA) is a regression;
- when the two samples are too small for that test to ever reach ALPHA (even every case failing now would
  not), the comparison says nothing: the verdict is "inconclusive" unless something already failed.
No baseline asked for: no comparison. A baseline asked for and not found: inconclusive, for the same
reason (the gate was asked a question it could not answer).

Reasons are dicts: `kind`, a `message` made only of names and numbers (shown to every reader), and, for
a case, `case_key`, `attempt`, `assertion`, `trace_id`; `detail` holds the scorer's own reason, which may
quote the output (payload: shown only with the payload permission).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scipy.stats import fisher_exact

from agentops.errors import FieldError
from agentops.goldens.assertions import TYPES

ALPHA = 0.05
GATE_KEYS = ("task_success", "accuracy", "p95_latency_ms", "cost_per_run_usd")


class GateConfigError(FieldError):
    pass


def _number(value: Any, field: str, *, share: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GateConfigError(field, "give a number")
    if value < 0 or (share and value > 1):
        raise GateConfigError(field, "give a share from 0 to 1" if share else "give a number >= 0")
    return float(value)


def clean_gate(raw: Any) -> dict[str, Any]:
    """The gate config in canonical form ({"accuracy": {type: share}} nested), or GateConfigError naming
    the first bad key (`gate.accuracy.tool_calls`). Unknown keys are refused: a typo must not turn a
    threshold into no threshold."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise GateConfigError("gate", "send a JSON object")
    gate: dict[str, Any] = {}
    accuracy: dict[str, float] = {}
    for key, value in raw.items():
        if key == "accuracy":
            if not isinstance(value, dict):
                raise GateConfigError("gate.accuracy", "send an object of assertion type: share")
            pairs = list(value.items())
        elif isinstance(key, str) and key.startswith("accuracy."):
            pairs = [(key.removeprefix("accuracy."), value)]
        elif key in ("task_success", "p95_latency_ms", "cost_per_run_usd"):
            gate[key] = _number(value, f"gate.{key}", share=key == "task_success")
            continue
        else:
            allowed = "task_success, accuracy.<assertion type>, p95_latency_ms, cost_per_run_usd"
            raise GateConfigError(f"gate.{str(key)[:60]}", f"unknown key; allowed: {allowed}")
        for kind, share in pairs:
            if kind not in TYPES:
                raise GateConfigError(f"gate.accuracy.{str(kind)[:60]}", "not an assertion type")
            accuracy[kind] = _number(share, f"gate.accuracy.{kind}", share=True)
    if accuracy:
        gate["accuracy"] = dict(sorted(accuracy.items()))
    return gate


@dataclass(frozen=True)
class AssertionResult:
    type: str
    status: str  # passed | failed | skipped | error (agentops.goldens.scorers.Status)
    name: str = ""
    reason: str = ""

    @property
    def label(self) -> str:
        return f"{self.type} ({self.name})" if self.name else self.type


@dataclass(frozen=True)
class Attempt:
    case_key: str
    attempt: int
    scored: bool = True
    outcomes: tuple[AssertionResult, ...] = ()
    trace_id: str | None = None  # hex
    latency_ms: float | None = None
    cost_usd: float | None = None

    @property
    def passed(self) -> bool:
        return self.scored and all(o.status == "passed" for o in self.outcomes)


@dataclass(frozen=True)
class Baseline:
    eval_run_id: int
    case_passed: dict[str, bool]  # case_key -> passed (by majority) in the baseline


@dataclass
class Verdict:
    verdict: str  # pass | fail | inconclusive
    reasons: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def case_passes(attempts: list[Attempt], repeat: int) -> bool:
    """A strict majority of the K attempts passed (missing attempts count as failed)."""
    return 2 * sum(a.passed for a in attempts) > repeat


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile: a value that was measured, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def fisher_p(now_pass: int, now_fail: int, base_pass: int, base_fail: int) -> float:
    """One-sided p-value that the pass rate now is lower than the baseline's."""
    result = fisher_exact([[now_pass, now_fail], [base_pass, base_fail]], alternative="less")
    return float(result.pvalue)


def can_detect(now_n: int, base_pass: int, base_fail: int) -> bool:
    """Whether the test could ever find a regression with these sizes: every case failing now would."""
    return now_n > 0 and fisher_p(0, now_n, base_pass, base_fail) < ALPHA


def _first_failure(attempt: Attempt) -> AssertionResult | None:
    if not attempt.scored:
        return None
    return next((o for o in attempt.outcomes if o.status != "passed"), None)


def _case_reason(kind: str, key: str, attempts: list[Attempt], repeat: int, prefix: str) -> dict[str, Any]:
    """A failing case's reason, naming its first failing attempt's first failing assertion and run."""
    failing = next((a for a in sorted(attempts, key=lambda a: a.attempt) if not a.passed), None)
    passed = sum(a.passed for a in attempts)
    reason: dict[str, Any] = {"kind": kind, "case_key": key, "attempt": None, "assertion": None, "trace_id": None}
    where = f"{passed} of {repeat} attempts passed" if repeat > 1 else "failed"
    if failing is None:  # an attempt never submitted
        reason["message"] = f"{prefix}case {key}: {where}; an attempt has no result"
        return reason
    reason |= {"attempt": failing.attempt, "trace_id": failing.trace_id}
    what = _first_failure(failing)
    if what is None:
        message = f"{prefix}case {key}: {where}; attempt {failing.attempt} has no result"
    else:
        reason |= {"assertion": what.label, "status": what.status, "detail": what.reason}
        message = f"{prefix}case {key}: {where}; attempt {failing.attempt}: {what.label} {what.status}"
    if failing.trace_id:
        message += f" (run {failing.trace_id})"
    reason["message"] = message
    return reason


def decide(
    gate: dict[str, Any],
    attempts: list[Attempt],
    case_keys: list[str],
    repeat: int,
    *,
    baseline: Baseline | None = None,
    baseline_wanted: str = "",
) -> Verdict:
    """The verdict of an eval run. `case_keys` are the cases of the set version, in order; `attempts`
    what was scored (a case's missing attempts are failures); `baseline_wanted` the baseline bundle
    asked for (with `baseline` None: no eval of it was found)."""
    by_case: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_case[a.case_key].append(a)
    passing = {key: case_passes(by_case[key], repeat) for key in case_keys}
    n, passed_n = len(case_keys), sum(passing.values())
    share = passed_n / n if n else 0.0
    failures: list[dict[str, Any]] = []
    doubts: list[dict[str, Any]] = []

    flipped = [k for k in case_keys if baseline and baseline.case_passed.get(k) and not passing[k]]

    # Thresholds. Failing cases are reasons only when they fail the gate, and flipped ones are named as such.
    wanted = gate.get("task_success", 1.0)
    if share < wanted:
        message = f"task_success {share:.3f} < {wanted:g}: {passed_n} of {n} cases passed"
        failures.append({"kind": "threshold", "metric": "task_success", "message": message})
        failures += [
            _case_reason("case_failed", key, by_case[key], repeat, "")
            for key in case_keys
            if not passing[key] and key not in flipped
        ]

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a in attempts:
        for o in a.outcomes:
            counts[o.type][0] += o.status == "passed"
            counts[o.type][1] += 1
    accuracy = {kind: ok / total for kind, (ok, total) in sorted(counts.items())}
    for kind, minimum in gate.get("accuracy", {}).items():
        if kind not in accuracy:
            message = f"accuracy.{kind}: no case of this set version has a {kind} assertion"
            failures.append({"kind": "threshold", "metric": f"accuracy.{kind}", "message": message})
        elif accuracy[kind] < minimum:
            ok, total = counts[kind]
            message = f"accuracy.{kind} {accuracy[kind]:.3f} < {minimum:g}: {ok} of {total} passed"
            failures.append({"kind": "threshold", "metric": f"accuracy.{kind}", "message": message})

    latencies = [a.latency_ms for a in attempts if a.latency_ms is not None]
    latency = p95(latencies)
    if "p95_latency_ms" in gate:
        limit = gate["p95_latency_ms"]
        if latency is None:
            message = "p95_latency_ms: no attempt has a finished run to measure"
            failures.append({"kind": "threshold", "metric": "p95_latency_ms", "message": message})
        elif latency > limit:
            message = f"p95_latency_ms {latency:.0f} > {limit:g}"
            failures.append({"kind": "threshold", "metric": "p95_latency_ms", "message": message})

    costs = [a.cost_usd for a in attempts if a.cost_usd is not None]
    cost = sum(costs) / len(costs) if costs else None
    if "cost_per_run_usd" in gate:
        limit = gate["cost_per_run_usd"]
        if cost is None:
            message = "cost_per_run_usd: no attempt has a run to measure"
            failures.append({"kind": "threshold", "metric": "cost_per_run_usd", "message": message})
        elif cost > limit:
            message = f"cost_per_run_usd {cost:.4f} > {limit:g}"
            failures.append({"kind": "threshold", "metric": "cost_per_run_usd", "message": message})

    # Against the baseline.
    comparison: dict[str, Any] | None = None
    if baseline is not None:
        prefix = f"regression against eval run {baseline.eval_run_id}: "
        failures += [_case_reason("flipped", key, by_case[key], repeat, prefix) for key in flipped]
        base_keys = [k for k in case_keys if k in baseline.case_passed]
        base_pass = sum(baseline.case_passed[k] for k in base_keys)
        base_fail = len(base_keys) - base_pass
        p_value = fisher_p(passed_n, n - passed_n, base_pass, base_fail) if base_keys else 1.0
        detectable = bool(base_keys) and can_detect(n, base_pass, base_fail)
        comparison = {
            "baseline_eval_run": baseline.eval_run_id,
            "baseline_task_success": base_pass / len(base_keys) if base_keys else None,
            "flipped": flipped,
            "p_value": p_value,
            "detectable": detectable,
        }
        base_share = f"{base_pass} of {len(base_keys)}"
        if detectable and p_value < ALPHA:
            message = (
                f"regression against eval run {baseline.eval_run_id}: {passed_n} of {n} cases passed, "
                f"{base_share} on the baseline (Fisher p={p_value:.4f} < {ALPHA})"
            )
            failures.append({"kind": "pass_rate", "message": message})
        elif not detectable:
            message = (
                f"inconclusive against eval run {baseline.eval_run_id}: {n} cases now, {base_share} passed on "
                f"the baseline: too few for Fisher's test to find a regression at {ALPHA}"
            )
            doubts.append({"kind": "small_sample", "message": message})
    elif baseline_wanted:
        message = f"no finished eval of bundle {baseline_wanted} on this set version to compare with"
        doubts.append({"kind": "no_baseline", "message": message})

    metrics = {
        "cases": n,
        "passed": passed_n,
        "task_success": share,
        "accuracy": accuracy,
        "p95_latency_ms": latency,
        "cost_per_run_usd": cost,
        "comparison": comparison,
    }
    verdict = "fail" if failures else "inconclusive" if doubts else "pass"
    return Verdict(verdict, failures + doubts, metrics)
