"""Writes of eval runs: create, submit results, score. Creating and finishing are audited.

Scoring (`eval_score`) runs with the eval run's row locked, so two CLIs polling the same run never score
an attempt twice or write two verdicts. An attempt is scored once its trace has landed: its run is
stored and its root span has ended (the run's latency is known). An attempt submitted without a trace id
waits for the run tagged with it (agentops.goldens.eval_traces), as `agentops eval` has the agent tag
its traces. With `final`, the caller gives up waiting: attempts whose trace never landed are scored
without it (their trace assertions skipped, so failed: skipped is not a pass), and attempts never
submitted count as failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agentops.goldens import eval_selectors, eval_traces, selectors
from agentops.goldens.eval_models import EvalCaseResult, EvalRun, EvalState, EvalVerdict
from agentops.goldens.facts import facts_of_runs
from agentops.goldens.gate import AssertionResult, Attempt, Baseline, GateConfigError, case_passes, clean_gate, decide
from agentops.goldens.judge import judge_for
from agentops.goldens.models import GoldenCase, GoldenSet
from agentops.goldens.scorers import Judge, score_all
from agentops.goldens.validation import GoldenConflict, GoldenError, clean_trace_id
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project
from traces.models import Run

MAX_REPEAT = 10
MAX_BUNDLE = 200
MAX_RESULTS_PER_REQUEST = 5000
MAX_OUTPUT_BYTES = 256 * 1024
CREATE_FIELDS = {"set", "version", "bundle", "baseline", "repeat", "gate"}
RESULT_FIELDS = {"case_key", "attempt", "output", "trace_id"}


def _person(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _audit(eval_run: EvalRun, user: Any, action: str, after: dict[str, Any]) -> None:
    audit_record(
        actor=user,
        action=action,
        target_type="eval_run",
        target_id=eval_run.pk,
        target_label=f"{eval_run.bundle} on {eval_run.set_name} v{eval_run.set_version}",
        after=after,
        project=eval_run.project,
    )


def _bundle(value: Any, field: str, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise GoldenError(field, "name the bundle (the agent's version) being evaluated")
        return ""
    if not isinstance(value, str) or len(value) > MAX_BUNDLE or not value.isprintable() or value != value.strip():
        raise GoldenError(field, f"give a bundle name: 1 to {MAX_BUNDLE} printable characters")
    return value


def _small_int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GoldenError(field, f"give a whole number from {low} to {high}")
    return value


@dataclass(frozen=True)
class Created:
    eval_run: EvalRun
    cases: list[GoldenCase]


@transaction.atomic
def eval_create(*, project: Project, user: Any, data: Any) -> Created:
    if not isinstance(data, dict):
        raise GoldenError("detail", "send a JSON object")
    for key in data:
        if key not in CREATE_FIELDS:
            raise GoldenError(str(key)[:60], f"unknown field; allowed: {', '.join(sorted(CREATE_FIELDS))}")
    name = data.get("set")
    golden_set = selectors.project_set(project, name) if isinstance(name, str) else None
    if golden_set is None:
        raise GoldenError("set", "no golden set of that name in this project")
    version = data.get("version")
    if version is None:
        version = golden_set.version
    version = _small_int(version, "version", 1, max(golden_set.version, 1))
    cases = list(selectors.cases_at(golden_set, version))
    if not cases:
        raise GoldenError("version", f"version {version} of this set has no cases")
    # The request's gate (a CI config's [gate] table) wins; without one, the set's own (edited in the UI).
    asked = data.get("gate")
    try:
        gate = clean_gate(asked if asked is not None else golden_set.gate)
    except GateConfigError as exc:
        raise GoldenError(exc.field, exc.message) from None
    eval_run = EvalRun.objects.create(
        project=project,
        golden_set=golden_set,
        set_name=golden_set.name,
        set_version=version,
        bundle=_bundle(data.get("bundle"), "bundle", required=True),
        baseline_bundle=_bundle(data.get("baseline"), "baseline", required=False),
        repeat=_small_int(data.get("repeat", 1), "repeat", 1, MAX_REPEAT),
        gate=gate,
        created_by=_person(user),
    )
    gate_from = "request" if asked is not None else "set"
    _audit(
        eval_run,
        user,
        "eval_run.create",
        {"bundle": eval_run.bundle, "baseline": eval_run.baseline_bundle, "gate_from": gate_from},
    )
    return Created(eval_run, cases)


def _locked(eval_run: EvalRun) -> EvalRun:
    return EvalRun.objects.select_for_update(of=("self",)).select_related("project", "golden_set").get(pk=eval_run.pk)


def _open(eval_run: EvalRun) -> GoldenSet:
    if eval_run.state in (EvalState.DONE, EvalState.ERROR):
        raise GoldenConflict("state", f"this eval run is {eval_run.state}: start a new one")
    if eval_run.golden_set is None:
        raise GoldenConflict("set", "the golden set of this eval run was deleted")
    return eval_run.golden_set


def _case_keys(golden_set: GoldenSet, version: int) -> list[str]:
    return list(selectors.cases_at(golden_set, version).values_list("case_key", flat=True))


def _clean_result(item: Any, where: str, keys: set[str], repeat: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise GoldenError(where, "send an object: case_key, attempt, output, trace_id")
    for key in item:
        if key not in RESULT_FIELDS:
            raise GoldenError(f"{where}.{str(key)[:60]}", f"unknown field; allowed: {', '.join(sorted(RESULT_FIELDS))}")
    key = item.get("case_key")
    if not isinstance(key, str) or key not in keys:
        raise GoldenError(f"{where}.case_key", "not a case of this eval run's set version")
    attempt = _small_int(item.get("attempt", 1), f"{where}.attempt", 1, repeat)
    trace = item.get("trace_id")
    trace_id = None if trace in (None, "") else clean_trace_id(trace, f"{where}.trace_id")
    output = item.get("output")
    if len(json.dumps(output, ensure_ascii=False).encode()) > MAX_OUTPUT_BYTES:
        raise GoldenError(f"{where}.output", f"at most {MAX_OUTPUT_BYTES // 1024} KiB of JSON")
    return {"case_key": key, "attempt": attempt, "trace_id": trace_id, "output": output}


@dataclass(frozen=True)
class Submitted:
    received: int
    submitted: int
    expected: int


@transaction.atomic
def results_submit(*, eval_run: EvalRun, data: Any) -> Submitted:
    """Record attempts' outputs (a list, or {"results": [...]}); resubmitting an attempt replaces it and
    its score."""
    items = data.get("results") if isinstance(data, dict) else data
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_RESULTS_PER_REQUEST:
        raise GoldenError("results", f"send a list of 1 to {MAX_RESULTS_PER_REQUEST} results")
    eval_run = _locked(eval_run)
    keys = set(_case_keys(_open(eval_run), eval_run.set_version))
    cleaned: dict[tuple[str, int], dict[str, Any]] = {}
    for i, item in enumerate(items):
        row = _clean_result(item, f"results[{i}]", keys, eval_run.repeat)
        cleaned[(row["case_key"], row["attempt"])] = row  # the last of duplicates wins
    rows = [EvalCaseResult(eval_run=eval_run, **row) for row in cleaned.values()]
    EvalCaseResult.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["eval_run", "case_key", "attempt"],
        update_fields=[
            "trace_id",
            "output",
            "outcomes",
            "passed",
            "latency_ms",
            "cost_usd",
            "scored_at",
            "submitted_at",
        ],
    )
    submitted = EvalCaseResult.objects.filter(eval_run=eval_run).count()
    return Submitted(len(rows), submitted, len(keys) * eval_run.repeat)


def _attempt(result: EvalCaseResult) -> Attempt:
    outcomes = tuple(
        AssertionResult(o["type"], o["status"], o.get("name", ""), o.get("reason", "")) for o in result.outcomes
    )
    return Attempt(
        case_key=result.case_key,
        attempt=result.attempt,
        scored=result.passed is not None,
        outcomes=outcomes,
        trace_id=result.trace_id.hex if result.trace_id else None,
        latency_ms=result.latency_ms,
        cost_usd=float(result.cost_usd) if result.cost_usd is not None else None,
    )


def _baseline(eval_run: EvalRun) -> tuple[EvalRun | None, Baseline | None]:
    found = eval_selectors.baseline_for(eval_run)
    if found is None:
        return None, None
    by_case: dict[str, list[Attempt]] = {}
    for result in eval_selectors.results(found):
        by_case.setdefault(result.case_key, []).append(_attempt(result))
    keys = _case_keys(eval_run.golden_set, eval_run.set_version) if eval_run.golden_set else []
    passed = {key: case_passes(by_case.get(key, []), found.repeat) for key in keys}
    return found, Baseline(found.pk, passed)


@dataclass
class Scored:
    eval_run: EvalRun
    waiting: list[dict[str, Any]] = field(default_factory=list)


def _score_one(result: EvalCaseResult, case: GoldenCase, facts: Any, judge: Judge | None) -> None:
    outcomes = score_all(
        case.assertions,
        output=result.output,
        facts=facts,
        case_input=case.input,
        expected_output=case.expected_output,
        judge=judge,
    )
    result.outcomes = [
        {"type": spec["type"], **({"name": spec["name"]} if spec.get("name") else {}), "status": o.status.value}
        | {"reason": o.reason}
        for spec, o in zip(case.assertions, outcomes, strict=True)
    ]
    result.passed = all(o.passed for o in outcomes)
    result.scored_at = timezone.now()


# One UPDATE joined to the new values as arrays. Django's bulk_update writes a CASE WHEN per column with a
# branch per row: for 1,000 results, seconds of Python to build it and a statement Postgres evaluates in
# time quadratic in the rows (each row walks the branches).
_SAVE_SCORES = f"""
UPDATE {EvalCaseResult._meta.db_table} AS r
SET outcomes = v.outcomes, passed = v.passed, latency_ms = v.latency_ms, cost_usd = v.cost_usd,
    scored_at = v.scored_at
FROM unnest(%s::bigint[], %s::jsonb[], %s::boolean[], %s::double precision[], %s::numeric[], %s::timestamptz[])
    AS v(id, outcomes, passed, latency_ms, cost_usd, scored_at)
WHERE r.id = v.id AND r.eval_run_id = %s
"""


def _save_scores(eval_run: EvalRun, scored: list[EvalCaseResult]) -> None:
    if not scored:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _SAVE_SCORES,
            [
                [r.pk for r in scored],
                [json.dumps(r.outcomes) for r in scored],
                [r.passed for r in scored],
                [r.latency_ms for r in scored],
                [r.cost_usd for r in scored],
                [r.scored_at for r in scored],
                eval_run.pk,
            ],
        )


@transaction.atomic
def eval_score(*, eval_run: EvalRun, user: Any, final: bool = False) -> Scored:
    """Score every attempt whose trace has landed; when none is left waiting, decide the verdict."""
    eval_run = _locked(eval_run)
    if eval_run.state in (EvalState.DONE, EvalState.ERROR):
        return Scored(eval_run)
    if eval_run.golden_set is None:
        return Scored(_finish(eval_run, user, EvalVerdict.ERROR, [{"kind": "error", "message": "the set was deleted"}]))
    project = eval_run.project
    cases = {c.case_key: c for c in selectors.cases_at(eval_run.golden_set, eval_run.set_version)}
    results = list(eval_selectors.results(eval_run))
    waiting: list[dict[str, Any]] = []
    have = {(r.case_key, r.attempt) for r in results}
    if not final:
        waiting += [
            {"case_key": key, "attempt": n, "waiting_for": "result"}
            for key in cases
            for n in range(1, eval_run.repeat + 1)
            if (key, n) not in have
        ]
    unscored = [r for r in results if r.passed is None]
    eval_traces.attach_tagged_runs(eval_run, [r for r in unscored if r.trace_id is None])
    runs = eval_selectors.runs_by_trace(project, (r.trace_id for r in unscored if r.trace_id))
    needs_judge = any(a["type"] == "llm_judge" for c in cases.values() for a in c.assertions)
    judge = judge_for(project) if needs_judge and unscored else None
    ready: list[tuple[EvalCaseResult, Run | None]] = []
    for result in unscored:
        run = runs.get(result.trace_id) if result.trace_id else None
        landed = run is not None and run.root_ended
        if not landed and not final:
            waiting.append({"case_key": result.case_key, "attempt": result.attempt, "waiting_for": "trace"})
            continue
        ready.append((result, run))
    # The steps of every run scored now, in a few queries whatever the size of the eval run (not one per case).
    facts = facts_of_runs(project, [run for _, run in ready if run is not None])
    now_scored: list[EvalCaseResult] = []
    for result, run in ready:
        _score_one(result, cases[result.case_key], facts.get(run.trace_id) if run is not None else None, judge)
        if run is not None:
            result.latency_ms = run.duration_ms
            result.cost_usd = run.cost_usd
        now_scored.append(result)
    _save_scores(eval_run, now_scored)
    if waiting:
        if eval_run.state != EvalState.SCORING:
            eval_run.state = EvalState.SCORING
            eval_run.save(update_fields=["state"])
        return Scored(eval_run, waiting)
    baseline_run, baseline = _baseline(eval_run)
    attempts = [_attempt(r) for r in results]
    verdict = decide(
        eval_run.gate,
        attempts,
        list(cases),
        eval_run.repeat,
        baseline=baseline,
        baseline_wanted=eval_run.baseline_bundle,
    )
    eval_run.baseline = baseline_run
    eval_run.metrics = verdict.metrics
    return Scored(_finish(eval_run, user, EvalVerdict(verdict.verdict), verdict.reasons))


def _finish(eval_run: EvalRun, user: Any, verdict: EvalVerdict, reasons: list[dict[str, Any]]) -> EvalRun:
    eval_run.state = EvalState.ERROR if verdict is EvalVerdict.ERROR else EvalState.DONE
    eval_run.verdict = verdict
    eval_run.reasons = reasons
    eval_run.finished_at = timezone.now()
    eval_run.save(update_fields=["state", "verdict", "reasons", "metrics", "baseline", "finished_at"])
    _audit(eval_run, user, "eval_run.finish", {"verdict": verdict.value, "metrics": eval_run.metrics})
    return eval_run
