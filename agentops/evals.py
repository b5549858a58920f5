"""Evaluate an agent written in Python on a golden set, from Python: the flow of `agentops eval`, with the
agent called in-process instead of as a command.

    from agentops import evals
    result = evals.run(set="smoke", task=answer, project="shop", bundle="v2", baseline="v1")
    print(result.table())
    sys.exit(result.exit_code)  # 0 pass, 1 fail, 3 inconclusive, as the CLI

`task(input)` gets a case's input (the JSON the set holds) and returns the output: a JSON value, else
its str(). It may be a plain function (run in a pool of `concurrency` threads) or an async one (awaited
on one event loop, at most `concurrency` at a time). A task that raises gives no output for that
attempt: its assertions on the output fail, and the exception is in `result.errors`.

Tracing: an agent run in-process cannot tag its traces with OTEL_RESOURCE_ATTRIBUTES (one resource for
the whole process), so each attempt runs inside a root span of its own carrying `agentops.eval.run`,
`agentops.eval.case`, `agentops.eval.attempt` and `agentops.bundle.id`; the spans the task opens (tool
calls, model calls, by hand or by an instrumentation) are its children, and the attempt's trace id is
submitted with its output, so the server scores the trace assertions on that run. This needs the
OpenTelemetry SDK set up to export to agentops (a TracerProvider with an OTLP exporter whose endpoint is
agentops and whose headers carry the project's ingest key), globally or passed as `tracer_provider`.
Without it (OpenTelemetry not installed, or no SDK provider), outputs are still scored and trace
assertions are skipped, which fails them.

HTTP only, the standard library (and OpenTelemetry when it imports): importing this module loads no
Django and no settings, and opens no database. `url` and `token` default to AGENTOPS_URL and
AGENTOPS_TOKEN (a personal API token that may manage golden sets). An error of the conversation (the
server out of reach, the token refused, an unknown set) raises EvalError with one line saying what to fix.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import os
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.goldens import eval_http, eval_reports
from agentops.goldens.eval_http import EXIT, EXIT_ERROR, EvalError

__all__ = ["CaseResult", "EvalError", "EvalResult", "run"]

MAX_CONCURRENCY = 64
FLUSH_MILLIS = 30_000


@dataclass(frozen=True)
class CaseResult:
    case_key: str
    passed: bool
    failed_assertion: str  # "tools_called: failed" (the first failed one), "" when the case passed
    reason: str  # the scorer's reason for it
    latency_ms: float | None
    cost_usd: float | None
    run_url: str  # the replay of the attempt shown ("" without a trace)


@dataclass(frozen=True)
class EvalResult:
    id: int
    verdict: str  # pass, fail, inconclusive (or error)
    pass_rate: float | None  # the share of cases passing (task_success)
    cases: tuple[CaseResult, ...]
    reasons: tuple[str, ...]  # why the gate decided so
    errors: tuple[str, ...] = ()  # the attempts whose task raised, with the exception
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the server's JSON

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def exit_code(self) -> int:
        """What `agentops eval` would exit with: 0 pass, 1 fail, 3 inconclusive, 2 an error."""
        return EXIT.get(self.verdict, EXIT_ERROR)

    def table(self) -> str:
        return eval_reports.table(self.raw)

    def junit(self) -> bytes:
        return eval_reports.junit(self.raw)

    def summary(self) -> str:
        """Markdown, e.g. for $GITHUB_STEP_SUMMARY."""
        return eval_reports.summary(self.raw)


@dataclass(frozen=True)
class _Attempt:
    case_key: str
    attempt: int
    output: Any
    trace_id: str | None
    error: str | None


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value


def _tracer(provider: Any) -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return (provider or trace.get_tracer_provider()).get_tracer("agentops.evals")


async def _call(task: Callable[[Any], Any], value: Any, pool: ThreadPoolExecutor) -> Any:
    if inspect.iscoroutinefunction(task):
        return await task(value)
    # The thread runs in a copy of this context: the attempt's span is the current one there too.
    context = contextvars.copy_context()
    result = await asyncio.get_running_loop().run_in_executor(pool, context.run, task, value)
    return await result if inspect.isawaitable(result) else result


async def _attempt(
    task: Callable[[Any], Any],
    job: tuple[str, int, Any],
    tags: dict[str, str],
    tracer: Any,
    pool: ThreadPoolExecutor,
    slots: asyncio.Semaphore,
) -> _Attempt:
    key, n, value = job
    output, trace_id, error = None, None, None
    async with slots:
        try:
            if tracer is None:
                output = await _call(task, value, pool)
            else:
                from opentelemetry import context as otel_context

                attributes = tags | {"agentops.eval.case": key, "agentops.eval.attempt": str(n)}
                # A root span (an empty parent context): one trace per attempt, even when run() itself is
                # called inside a span. An exception leaving it marks it failed (no_error sees it).
                with tracer.start_as_current_span(
                    f"eval {key} #{n}", context=otel_context.Context(), attributes=attributes
                ) as span:
                    found = span.get_span_context()
                    if found.is_valid and found.trace_flags.sampled:
                        trace_id = format(found.trace_id, "032x")
                    output = await _call(task, value, pool)
        except Exception as exc:  # the agent's failure is a result of the eval, not an error of run()
            error = f"{type(exc).__name__}: {exc}"
    return _Attempt(key, n, _jsonable(output), trace_id, error)


async def _attempts(
    task: Callable[[Any], Any], jobs: list[tuple[str, int, Any]], tags: dict[str, str], tracer: Any, concurrency: int
) -> list[_Attempt]:
    slots = asyncio.Semaphore(concurrency)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="agentops-eval") as pool:
        return list(await asyncio.gather(*(_attempt(task, job, tags, tracer, pool, slots) for job in jobs)))


def _run_coroutine(coroutine: Coroutine[Any, Any, list[_Attempt]]) -> list[_Attempt]:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from async code (a notebook, an async test): its loop is busy running us; use another thread's.
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def _flush(tracer_provider: Any) -> None:
    """Send the spans still batched in the exporter, so that the server can find the attempts' runs."""
    try:
        from opentelemetry import trace
    except ImportError:
        return
    flush = getattr(tracer_provider or trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush(FLUSH_MILLIS)


def _gate(gate: dict[str, Any] | str | Path | None) -> dict[str, Any] | None:
    if isinstance(gate, str | Path):
        return eval_http.load_gate(Path(gate))
    return gate


def _case(row: eval_reports.Row) -> CaseResult:
    return CaseResult(
        case_key=row.case_key,
        passed=row.verdict == "pass",
        failed_assertion=row.failed,
        reason=row.detail,
        latency_ms=row.latency_ms,
        cost_usd=row.cost_usd,
        run_url=row.run_url if row.run_url.startswith("http") else "",
    )


def run(
    *,
    set: str,  # shadows the builtin: the name the CLI and the API use
    task: Callable[[Any], Any],
    project: str,
    bundle: str,
    baseline: str | None = None,
    version: int | None = None,
    repeat: int = 1,
    concurrency: int = 1,
    gate: dict[str, Any] | str | Path | None = None,
    url: str | None = None,
    token: str | None = None,
    wait_traces: float = 120.0,
    tracer_provider: Any = None,
) -> EvalResult:
    """Run `task` on each case of golden set `set` (NAME or NAME@VERSION; `version` wins when given),
    `repeat` times, as bundle `bundle` of the agent; score it on the server against the gate (a dict as
    the [gate] table of agentops-eval.toml, or the path of such a file) and `baseline`'s latest eval on
    the same set version. Waits up to `wait_traces` seconds for the attempts' traces to land."""
    url = url or os.environ.get("AGENTOPS_URL", "")
    token = token or os.environ.get("AGENTOPS_TOKEN", "")
    if not url:
        raise EvalError("set AGENTOPS_URL (or url=) to the agentops server, e.g. http://127.0.0.1:8000")
    if not token:
        raise EvalError("set AGENTOPS_TOKEN (or token=) to a personal API token (your account page, API tokens)")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise EvalError(f"concurrency: give a number from 1 to {MAX_CONCURRENCY}")
    if not callable(task):
        raise EvalError("task: give a function that takes a case's input and returns the output")
    name, named_version = eval_http.set_and_version(set)
    client = eval_http.Client(url, token, project)
    created = eval_http.create(
        client,
        set_name=name,
        version=version if version is not None else named_version,
        bundle=bundle,
        repeat=repeat,
        baseline=baseline,
        gate=_gate(gate),
    )
    run_id = created["id"]
    jobs = [(c["case_key"], n, c.get("input")) for c in created.get("cases", []) for n in range(1, repeat + 1)]
    tags = {"agentops.eval.run": str(run_id), "agentops.bundle.id": bundle}
    tracer = _tracer(tracer_provider)
    attempts = _run_coroutine(_attempts(task, jobs, tags, tracer, concurrency))
    _flush(tracer_provider)

    errors = tuple(f"case {a.case_key} attempt {a.attempt}: {a.error}" for a in attempts if a.error)
    for line in errors:
        print(f"agentops: {eval_http.clean(line)}", file=sys.stderr)
    traced = any(a.trace_id for a in attempts)
    if attempts and not traced:
        print(
            "agentops: no attempt was traced (OpenTelemetry's SDK is not set up): trace assertions are skipped",
            file=sys.stderr,
        )
    results = [
        {"case_key": a.case_key, "attempt": a.attempt, "output": a.output}
        | ({"trace_id": a.trace_id} if a.trace_id else {})
        for a in attempts
    ]
    eval_http.submit(client, run_id, results)
    # Nothing to wait for when nothing was traced: score at once.
    body = eval_http.score(client, run_id, wait_traces if traced else 0.0)
    metrics = body.get("metrics") or {}
    return EvalResult(
        id=int(body.get("id", run_id)),
        verdict=str(body.get("verdict")),
        pass_rate=metrics.get("task_success"),
        cases=tuple(_case(row) for row in eval_reports.rows(body)),
        reasons=tuple(str(r.get("message", "")) for r in body.get("reasons", [])),
        errors=errors,
        raw=body,
    )
