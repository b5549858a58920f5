"""The budgets page's history chart, a plotly figure built as data from budgets.history's points (as
traces/charts.py builds the dashboards'): spend per window as bars, the limit as a line. The only text
from data is the scope's value, which goes through traces.plotly_text.label (an end user's id can be
anything, and plotly draws HTML in a title)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentops.budgets.history import HistoryPoint
from agentops.budgets.models import Budget
from agentops.budgets.windows import PERIODS
from traces.plotly_text import label


def _title(budget: Budget) -> str:
    scope = ", ".join(f"{k} {v}" for k, v in budget.scope.items()) or "the project"
    per = budget.window if budget.window in PERIODS else "day (rolling window)"
    return label(f"Spend per {per} of {scope}")


def history_figure(budget: Budget, points: Sequence[HistoryPoint]) -> dict[str, Any]:
    x = [p.start.date().isoformat() for p in points]
    limit = float(budget.limit_usd)
    data: list[dict[str, Any]] = [
        {"type": "bar", "name": "spent (USD)", "x": x, "y": [float(p.cost_usd) for p in points]},
    ]
    if budget.window in PERIODS:  # a rolling window's limit is not per day: no line to compare with
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "limit",
                "x": x,
                "y": [limit] * len(points),
                "line": {"color": "#c0392b", "dash": "dash"},
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {"text": _title(budget), "font": {"size": 14}},
            "margin": {"l": 48, "r": 16, "t": 36, "b": 40},
            "height": 240,
            "xaxis": {"type": "category"},
            "yaxis": {"rangemode": "tozero"},
            "showlegend": False,
        },
    }
