"""The trend chart of a golden set's eval runs: pass rate per bundle over time. Pure: a plotly figure as a
plain dict, built from selector rows (as traces/charts.py builds the dashboards').

Bundle names come from CI command lines, so from anyone who can open a pull request: each goes through
traces.plotly_text (plotly draws HTML in names and hover text). A point's customdata holds its eval
run's page URL, built by the server; agentops/static/evals.js follows it on a click.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from traces.plotly_text import label, template_literal

# The legend and the hover stay readable: the bundles evaluated most recently are drawn, the others counted.
MAX_BUNDLES = 12


@dataclass(frozen=True)
class TrendPoint:
    eval_run_id: int
    bundle: str
    at: datetime
    task_success: float  # 0..1
    url: str


@dataclass(frozen=True)
class Trend:
    figure: dict[str, Any]
    bundles_left_out: int


def pass_rate_trend(points: Sequence[TrendPoint], set_name: str) -> Trend:
    """One line per bundle (at most MAX_BUNDLES, the most recently evaluated), oldest point first."""
    latest: dict[str, datetime] = {}
    for p in points:
        latest[p.bundle] = max(latest.get(p.bundle, p.at), p.at)
    drawn = sorted(latest, key=lambda b: latest[b], reverse=True)[:MAX_BUNDLES]
    data = []
    for bundle in drawn:
        mine = sorted((p for p in points if p.bundle == bundle), key=lambda p: (p.at, p.eval_run_id))
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": label(bundle),
                "x": [p.at.isoformat() for p in mine],
                "y": [round(100 * p.task_success, 2) for p in mine],
                "customdata": [[p.url, p.eval_run_id] for p in mine],
                "hovertemplate": (
                    f"{template_literal(bundle)}: %{{y}}% of cases passed (eval run %{{customdata[1]}})<extra></extra>"
                ),
            }
        )
    layout = {
        "title": {"text": f"Pass rate of {label(set_name)} per bundle", "font": {"size": 14}},
        "margin": {"l": 48, "r": 16, "t": 36, "b": 40},
        "height": 300,
        "yaxis": {"range": [0, 105], "ticksuffix": "%"},
        "xaxis": {"type": "date"},
        "hovermode": "closest",
    }
    return Trend({"data": data, "layout": layout}, len(latest) - len(drawn))
