"""Drift rules: each bundle with runs in the last `window_minutes` (default 1440) against its recorded
baseline (agentops.agents: the agent's previous bundle in the same environment, or a user's choice).

evaluate(rule, *, now) -> one Finding per judged (agent, bundle, environment): the comparison engine's
verdict (agentops.alerts.comparison through selectors.bundle_sample, as the canary API) on the metrics
in params["metrics"] (default DEFAULT_METRICS; "tools" adds the per-tool calls and error rates):
fail -> critical, marginal -> warning, pass -> clear (None); inconclusive (too few runs in either arm,
`min_sample` per arm, or too little data) -> no finding, so an open alert stays as it is. A live alert
whose bundle has had no run in the window (the deployment was rolled back, or the bundle retired) gets
a clear finding: it resolves, saying so.

The arms: the candidate's runs in the window; the baseline's newest runs before now (its traffic often
stops when the candidate ships, so no window is put on it). Each arm reads at most ARM_RUNS runs (the
newest), whatever the bundle's size, and the TOOL steps only when the rule watches tool metrics.

Bounded per cycle: the bundles come from agents_bundle (last_seen in the window, a baseline set, the
rule's agent, bundle and environment scope), at most MAX_BUNDLES of them per call. When more qualify,
the call judges a slice that moves on with the clock (by the minute), so that every bundle is judged
within ceil(n / MAX_BUNDLES) cycles and none is starved; an alert on a bundle not judged this cycle
stays as it is (no finding). Bundles are recorded once a minute (agentops.agents.tasks), so a bundle's
first runs are judged from the next pass of the recorder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from agentops.agents.models import Bundle
from agentops.alerts.comparison import Sample, compare
from agentops.alerts.evaluation.base import Finding
from agentops.alerts.models import Alert, AlertRule, Severity
from agentops.alerts.selectors import bundle_sample
from agentops.alerts.stats import Config, Judgement, MetricResult, Verdict, judge

DEFAULT_WINDOW = 1440
DEFAULT_METRICS = ("error_rate", "unfinished_rate", "duration_ms", "cost_usd", "steps", "tool_calls")
MAX_BUNDLES = 4
# Runs read per arm, the newest (selectors.MAX_RUNS is the canary's 2,000): a bundle judged every few
# minutes needs no more for the tests to see a regression that matters.
ARM_RUNS = 1000
_SEVERITY = {Verdict.FAIL: Severity.CRITICAL, Verdict.MARGINAL: Severity.WARNING, Verdict.PASS: None}


def _metrics(rule: AlertRule) -> set[str]:
    params = rule.params if isinstance(rule.params, dict) else {}
    names = params.get("metrics") or DEFAULT_METRICS
    return {str(name) for name in names}


def _chosen(metrics: Iterable[MetricResult], names: set[str]) -> list[MetricResult]:
    return [m for m in metrics if m.name in names or ("tools" in names and m.name.startswith("tool."))]


def candidates(rule: AlertRule, *, since: datetime) -> list[Bundle]:
    """The bundles to judge this cycle (see the module): a bounded, rotating slice."""
    scope = rule.scope if isinstance(rule.scope, dict) else {}
    bundles = Bundle.objects.filter(project_id=rule.project_id, last_seen__gte=since, baseline__isnull=False)
    if scope.get("agent"):
        bundles = bundles.filter(agent__name=scope["agent"])
    if scope.get("bundle"):
        bundles = bundles.filter(name=scope["bundle"])
    if scope.get("environment"):
        bundles = bundles.filter(environment=scope["environment"])
    ids = list(bundles.order_by("id").values_list("id", flat=True))
    if len(ids) > MAX_BUNDLES:
        start = (int(since.timestamp()) // 60 * MAX_BUNDLES) % len(ids)
        ids = (ids[start:] + ids[:start])[:MAX_BUNDLES]
    return list(Bundle.objects.filter(id__in=ids).select_related("agent", "baseline").order_by("id"))


def _summary(bundle: Bundle, judgement: Judgement, failed: list[str]) -> str:
    where = f" in {bundle.environment}" if bundle.environment else ""
    assert bundle.baseline is not None
    head = f"{bundle.agent.name} bundle {bundle.name}{where} against {bundle.baseline.name}: {judgement.verdict.value}"
    tail = f" ({', '.join(failed)})" if failed else ""
    return f"{head}{tail}; {judgement.candidate_n} runs against {judgement.baseline_n}"


def _judge(bundle: Bundle, rule: AlertRule, *, since: datetime, now: datetime) -> Finding | None:
    baseline = bundle.baseline
    assert baseline is not None
    project = rule.project
    agent = bundle.agent.name
    config = Config(min_sample=max(1, rule.min_sample))
    names = _metrics(rule)
    # The TOOL steps are read only for the metrics made of them: the rest come from the runs' row.
    tools = bool(names & {"tool_errors", "tools"})
    cand: Sample = bundle_sample(
        project,
        agent=agent,
        bundle=bundle.name,
        environment=bundle.environment,
        since=since,
        until=now,
        with_tools=tools,
    )
    if cand.runs < config.min_sample:
        return None  # inconclusive without reading the baseline
    base = bundle_sample(
        project,
        agent=agent,
        bundle=baseline.name,
        environment=baseline.environment,
        until=now,
        with_tools=tools,
        limit=ARM_RUNS,
    )
    full = compare(base, cand, config)
    metrics = _chosen(full.metrics, names)
    judgement = judge(metrics, baseline_n=full.baseline_n, candidate_n=full.candidate_n, config=config)
    if judgement.verdict is Verdict.INCONCLUSIVE:
        return None
    failed = [m.name for m in metrics if m.verdict.value == "fail"]
    scope = {"agent": agent, "bundle": bundle.name}
    if bundle.environment:
        scope["environment"] = bundle.environment
    runs_filter = {**scope, "from": since.isoformat(), "to": now.isoformat()}
    if "error_rate" in failed:
        runs_filter["status"] = "error"
    return Finding(
        scope=scope,
        severity=_SEVERITY[judgement.verdict],
        value=judgement.score,
        baseline_value=None,
        summary=_summary(bundle, judgement, failed),
        details={
            "verdict": judgement.verdict.value,
            "score": judgement.score,
            "reason": judgement.reason,
            "baseline": baseline.name,
            "baseline_environment": baseline.environment,
            "baseline_n": judgement.baseline_n,
            "candidate_n": judgement.candidate_n,
            "since": since.isoformat(),
            "metrics": [
                {
                    "name": m.name,
                    "verdict": m.verdict.value,
                    "baseline_value": m.baseline_value,
                    "candidate_value": m.candidate_value,
                    "effect": m.effect,
                    "p_value": m.p_value,
                    "reason": m.reason,
                }
                for m in metrics
            ],
        },
        runs_filter=runs_filter,
    )


def _retired(rule: AlertRule, *, since: datetime, now: datetime) -> list[Finding]:
    """A clear finding for each live alert of the rule whose bundle has had no run in the window (rolled
    back, or retired): nothing of it is drifting any more. One query for the alerts, one for their
    bundles."""
    live = list(Alert.objects.filter(rule=rule, state__in=Alert.LIVE_STATES).values_list("scope", flat=True))
    if not live:
        return []
    keys = {(s.get("agent", ""), s.get("bundle", ""), s.get("environment", "")) for s in live if isinstance(s, dict)}
    active = {
        (agent, name, environment)
        for agent, name, environment in Bundle.objects.filter(
            project_id=rule.project_id, name__in={k[1] for k in keys}, last_seen__gte=since
        ).values_list("agent__name", "name", "environment")
    }
    window = f"{rule.window_minutes or DEFAULT_WINDOW} min"
    findings = []
    for agent, name, environment in sorted(keys - active):
        scope = {k: v for k, v in (("agent", agent), ("bundle", name), ("environment", environment)) if v}
        findings.append(
            Finding(
                scope=scope,
                severity=None,
                value=None,
                baseline_value=None,
                summary=f"{agent} bundle {name} has had no runs in the last {window}: no longer drifting",
                details={"verdict": "no_runs", "since": since.isoformat()},
                runs_filter={**scope, "from": since.isoformat(), "to": now.isoformat()},
            )
        )
    return findings


def evaluate(rule: AlertRule, *, now: datetime) -> list[Finding]:
    since = now - timedelta(minutes=rule.window_minutes or DEFAULT_WINDOW)
    findings = []
    for bundle in candidates(rule, since=since):
        finding = _judge(bundle, rule, since=since, now=now)
        if finding is not None:
            findings.append(finding)
    return findings + _retired(rule, since=since, now=now)
