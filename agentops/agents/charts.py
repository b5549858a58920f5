"""Plotly figures of the bundle comparison page, built by pure functions from the compared samples.

`comparison_boxes` takes the engine's judgement and both arms' samples (agentops.alerts.comparison) and
returns, per continuous metric judged, a figure with the baseline's and the candidate's distribution
side by side as box plots. No database, no request: the figures are plain dicts, tested as data.

The boxes are precomputed here (quartiles, Tukey fences, mean) rather than sent as every run's value: an
arm holds up to 2,000 runs (agentops.alerts.selectors.MAX_RUNS) and a comparison some twenty continuous
metrics, so raw values would make a page of megabytes; five numbers per box keep it small whatever
the traffic. Quartiles are computed as plotly's default ("linear", numpy's default) would.

Bundle and tool names come from agents' spans, so from their end users: each goes through
traces.plotly_text.label before plotly draws it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentops.alerts.comparison import VALUES, Sample
from agentops.alerts.stats import Judgement
from traces.plotly_text import label

Figure = dict[str, Any]

BASELINE_COLOUR = "#636efa"
CANDIDATE_COLOUR = "#ef553b"
_MARGIN = {"l": 56, "r": 16, "t": 36, "b": 48}
_UNITS = {spec.name: spec.unit for spec, _ in VALUES}
_READERS = {spec.name: read for spec, read in VALUES}
_TOOL_PREFIX, _TOOL_CALLS = "tool.", ".calls"


@dataclass(frozen=True, slots=True)
class BoxStats:
    n: int
    lowerfence: float
    q1: float
    median: float
    q3: float
    upperfence: float
    mean: float


def box_stats(values: Sequence[float | int | None]) -> BoxStats | None:
    """The five numbers of a box (and the mean) as plotly draws them from raw values: quartiles by
    linear interpolation, whiskers to the furthest value within 1.5 IQR of the box. None when empty."""
    clean = sorted(float(v) for v in values if v is not None and not math.isnan(v))
    if not clean:
        return None
    if len(clean) == 1:
        q1 = median = q3 = clean[0]
    else:
        q1, median, q3 = statistics.quantiles(clean, n=4, method="inclusive")
    iqr = q3 - q1
    low = next(v for v in clean if v >= q1 - 1.5 * iqr)
    high = next(v for v in reversed(clean) if v <= q3 + 1.5 * iqr)
    return BoxStats(len(clean), low, q1, median, q3, high, statistics.fmean(clean))


def metric_values(sample: Sample, metric: str) -> list[float] | None:
    """The per-run values behind a continuous metric of the engine (agentops.alerts.comparison), or
    None for a metric that is not one (a proportion: its values are events out of trials)."""
    if metric in _READERS:
        return [float(v) for v in _READERS[metric](sample)]
    if metric.startswith(_TOOL_PREFIX) and metric.endswith(_TOOL_CALLS):
        tool = sample.tools.get(metric[len(_TOOL_PREFIX) : -len(_TOOL_CALLS)])
        # A tool the arm never called: zero calls in each of its runs, as the engine counts it.
        return [float(v) for v in tool.calls_per_run] if tool else [0.0] * sample.runs
    return None


def _box(role: str, bundle: str, stats: BoxStats, colour: str) -> dict[str, Any]:
    name = f"{label(bundle)} ({role})"
    return {
        "type": "box",
        "name": name,
        "x": [name],
        "q1": [stats.q1],
        "median": [stats.median],
        "q3": [stats.q3],
        "lowerfence": [stats.lowerfence],
        "upperfence": [stats.upperfence],
        "mean": [stats.mean],
        "boxpoints": False,
        "marker": {"color": colour},
        "showlegend": False,
    }


def metric_boxes(
    metric: str, *, baseline: str, baseline_values: Sequence[float], candidate: str, candidate_values: Sequence[float]
) -> Figure:
    """The baseline's and the candidate's distribution of one metric, side by side (an arm with no
    values has no box)."""
    data = []
    for role, bundle, values, colour in (
        ("baseline", baseline, baseline_values, BASELINE_COLOUR),
        ("candidate", candidate, candidate_values, CANDIDATE_COLOUR),
    ):
        stats = box_stats(values)
        if stats is not None:
            data.append(_box(role, bundle, stats, colour))
    unit = _UNITS.get(metric, "")
    title = label(metric) + (f" ({unit})" if unit else "")
    return {
        "data": data,
        "layout": {
            "title": {"text": title, "font": {"size": 14}},
            "margin": _MARGIN,
            "height": 300,
            "xaxis": {"type": "category", "automargin": True},
            "yaxis": {"rangemode": "tozero", "automargin": True},
        },
    }


def comparison_boxes(
    judgement: Judgement, *, baseline: str, baseline_sample: Sample, candidate: str, candidate_sample: Sample
) -> list[tuple[str, Figure]]:
    """(metric, figure) for each continuous metric of the judgement, in its order."""
    figures = []
    for result in judgement.metrics:
        base = metric_values(baseline_sample, result.name)
        cand = metric_values(candidate_sample, result.name)
        if base is None or cand is None:
            continue
        figures.append(
            (
                result.name,
                metric_boxes(
                    result.name, baseline=baseline, baseline_values=base, candidate=candidate, candidate_values=cand
                ),
            )
        )
    return figures
