"""The canary verdict: a candidate bundle of an agent against its baseline, for a CD system or a person.

`canary_verdict` resolves the names (an agent and bundles known from the recorded rows or, before the
recorder's next pass, from the runs themselves), reads both arms (agentops.alerts.selectors) and judges
them (agentops.alerts.comparison). The default baseline is the candidate's recorded baseline, in the
environment asked for, else in the environment the candidate (with a baseline) was seen in last; both arms are then read
from that environment only. A baseline given by name compares across environments unless one is asked
for. With no baseline known (an agent's first bundle, or one not recorded yet) the verdict is
inconclusive and says so: nothing is passed unproven. Unknown names raise CanaryNotFound; contradictory
ones CanaryInvalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentops.agents import selectors as agents
from agentops.alerts import selectors
from agentops.alerts.comparison import Sample, compare
from agentops.alerts.stats import Config, Judgement, Verdict
from agentops.tenancy.models import Project


class CanaryNotFound(LookupError):
    pass


class CanaryInvalid(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CanaryReport:
    agent: str
    candidate: str
    baseline: str | None
    environment: str | None
    since: datetime | None
    judgement: Judgement
    # Both arms as read, for a page that draws them (the API leaves them out); None where not read.
    baseline_sample: Sample | None = None
    candidate_sample: Sample | None = None

    def as_dict(self) -> dict[str, Any]:
        """The API's body (the public contract: verdict, score, baseline, candidate, metrics[...]),
        with the reason, the sample sizes and the window beside it."""
        j = self.judgement
        return {
            "verdict": j.verdict.value,
            "score": None if j.score is None else round(j.score, 4),
            "baseline": self.baseline,
            "candidate": self.candidate,
            "agent": self.agent,
            "environment": self.environment,
            "since": self.since.isoformat() if self.since else None,
            "reason": j.reason,
            "baseline_n": j.baseline_n,
            "candidate_n": j.candidate_n,
            "metrics": [
                {
                    "name": m.name,
                    "verdict": m.verdict.value,
                    "baseline_n": m.baseline_n,
                    "candidate_n": m.candidate_n,
                    "baseline_value": m.baseline_value,
                    "candidate_value": m.candidate_value,
                    "effect": m.effect,
                    "p_value": m.p_value,
                    "reason": m.reason,
                }
                for m in j.metrics
            ],
        }


def _known(project: Project, agent: str, bundle: str) -> bool:
    return agents.agent_bundle(project, agent, bundle) is not None or selectors.bundle_has_runs(
        project, agent=agent, bundle=bundle
    )


def canary_verdict(
    project: Project,
    *,
    agent: str,
    candidate: str,
    baseline: str | None = None,
    environment: str | None = None,
    since: datetime | None = None,
    config: Config | None = None,
) -> CanaryReport:
    config = config or Config()
    if agents.project_agent(project, agent) is None and not selectors.bundle_has_runs(project, agent=agent):
        raise CanaryNotFound(f"no agent named {agent!r} in this project")
    if not _known(project, agent, candidate):
        raise CanaryNotFound(f"agent {agent!r} has no bundle {candidate!r}")
    if baseline is not None and not _known(project, agent, baseline):
        raise CanaryNotFound(f"agent {agent!r} has no bundle {baseline!r}")
    if baseline is None:
        row = agents.agent_bundle(project, agent, candidate, environment, with_baseline=True)
        if row is not None and row.baseline is not None:
            # The recorded baseline is the one of the candidate's environment: compare within it.
            baseline, environment = row.baseline.name, row.environment
    if baseline == candidate:
        raise CanaryInvalid("the candidate and the baseline are the same bundle")

    def sample(bundle: str) -> Sample:
        return selectors.bundle_sample(project, agent=agent, bundle=bundle, environment=environment, since=since)

    cand = sample(candidate)
    if baseline is None:
        reason = f"no baseline known for bundle {candidate!r}: name one with baseline="
        judgement = Judgement(Verdict.INCONCLUSIVE, None, 0, cand.runs, [], reason)
        return CanaryReport(agent, candidate, None, environment, since, judgement, None, cand)
    base = sample(baseline)
    return CanaryReport(agent, candidate, baseline, environment, since, compare(base, cand, config), base, cand)
