"""Finding an attempt's run by its tags, for results the CLI submitted without a trace id.

`agentops eval` runs the agent with OTEL_RESOURCE_ATTRIBUTES carrying `agentops.eval.run`,
`agentops.eval.case` and `agentops.eval.attempt`; ingest keeps the resource of a run's root span in
`Run.resource` (attribute name -> value, as sent: strings from that variable). An attempt's run is the
project's run with those three values stored after the eval run was created (a run with the same tags
from before cannot be this attempt's: a reused database, a replayed export); of several, the earliest.
"""

from __future__ import annotations

from datetime import timedelta

from agentops.goldens.eval_models import EvalCaseResult, EvalRun
from traces.models import Run

RUN_ATTRIBUTE = "agentops.eval.run"
CASE_ATTRIBUTE = "agentops.eval.case"
ATTEMPT_ATTRIBUTE = "agentops.eval.attempt"
# Runs start by the agent's clock: a CI runner's may be behind the server's. The bound only narrows the
# scan to the project's recent runs (its index); `updated_at` (the server's clock) decides.
CLOCK_SKEW = timedelta(hours=1)
# `updated_at` is the database's now(), `created_at` the web process's clock: allow them to differ a little.
STORED_SLACK = timedelta(minutes=1)


def attach_tagged_runs(eval_run: EvalRun, untraced: list[EvalCaseResult]) -> list[EvalCaseResult]:
    """Give each result its tagged run's trace id (in place) where that run has landed; returns those."""
    if not untraced:
        return []
    candidates = (
        Run.objects.filter(
            project_id=eval_run.project_id,
            start_time__gte=eval_run.created_at - CLOCK_SKEW,
            updated_at__gte=eval_run.created_at - STORED_SLACK,
            resource__contains={RUN_ATTRIBUTE: str(eval_run.pk)},
        )
        .order_by("start_time", "id")
        .only("trace_id", "resource")
    )
    wanted = {(r.case_key, str(r.attempt)): r for r in untraced}
    found: list[EvalCaseResult] = []
    for run in candidates:
        key = (run.resource.get(CASE_ATTRIBUTE), run.resource.get(ATTEMPT_ATTRIBUTE))
        result = wanted.pop(key, None)
        if result is not None:
            result.trace_id = run.trace_id
            found.append(result)
    if found:
        EvalCaseResult.objects.bulk_update(found, ["trace_id"])
    return found
