"""Plotly figures for the dashboards, built by pure functions from selector results.

Each function takes dataclasses from traces.selectors.dashboards and returns a figure as a plain dict
({"data": [...], "layout": {...}}) that the page hands to Plotly.newPlot as JSON. No database, no
request, no plotly Python package: the figures are tested as data. Money goes out as float (a chart's
axis does not need Decimal's precision); times as ISO 8601 strings. Every label taken from data goes
through traces.plotly_text.label: plotly draws HTML in labels, and these come from agents' end users.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from traces.plotly_text import label
from traces.selectors.dashboards import BundleStat, SeriesPoint, Share, ToolStat

Figure = dict[str, Any]

_MARGIN = {"l": 48, "r": 16, "t": 36, "b": 40}
# A chart with a second y axis on the right: room for its tick labels and title (automargin grows it
# further when the ticks are long, "1.2M").
_MARGIN_RIGHT_AXIS = {**_MARGIN, "r": 64}
# Plotly's default colour cycle, so a bundle keeps its colour across the side-by-side panels.
_PALETTE = [
    "#636efa",
    "#ef553b",
    "#00cc96",
    "#ab63fa",
    "#ffa15a",
    "#19d3f3",
    "#ff6692",
    "#b6e880",
    "#ff97ff",
    "#fecb52",
]


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "margin": _MARGIN, "height": 260} | extra


def _iso(at: datetime) -> str:
    return at.isoformat()


Span = tuple[datetime, datetime]


def _moment(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RunLinks:
    """Where a click on a chart goes: the run list (`base`, a same-site path) filtered to the runs behind
    the point, within the dashboard's window [start, end) and its slice (`filters`: agent, bundle,
    environment as the run list names them). A figure carries them as "links": per trace, per point, a
    URL or None (dashboards.js opens it on click)."""

    base: str
    start: datetime
    end: datetime
    bucket: timedelta
    filters: tuple[tuple[str, str], ...] = ()

    def _url(self, start: datetime, end: datetime, more: dict[str, str]) -> str:
        query = [("from", _moment(start)), ("to", _moment(end)), *self.filters]
        query = [(k, v) for k, v in query if k not in more] + sorted(more.items())
        return f"{self.base}?{urlencode(query)}"

    def at(self, at: datetime, **more: str) -> str:
        """The runs of the bucket starting at `at` (cut to the window)."""
        return self._url(max(at, self.start), min(at + self.bucket, self.end), more)

    def whole(self, **more: str) -> str:
        """The runs of the whole window, narrowed by `more` (agent=..., status=error, ...)."""
        return self._url(self.start, self.end, more)


def _linked(figure: Figure, links: RunLinks | None, urls: Callable[[RunLinks], list[list[str | None]]]) -> Figure:
    """`figure` with its "links" (per trace, per point) when the page gave `links`."""
    if links is not None:
        figure["links"] = urls(links)
    return figure


def _time_axis(span: Span | None) -> dict[str, Any]:
    """The x axis of a time series: the whole selected window, so that one point is not drawn on an
    axis zoomed to a millisecond around it, and sparse data keeps its place in time."""
    if span is None:
        return {}
    return {"xaxis": {"type": "date", "range": [_iso(span[0]), _iso(span[1])]}}


def runs_over_time(series: Sequence[SeriesPoint], span: Span | None = None, links: RunLinks | None = None) -> Figure:
    """Runs per bucket, errors stacked on top of the successful ones; a bar opens its bucket's runs (the
    error bar, the failed ones)."""
    x = [_iso(p.at) for p in series]
    figure = {
        "data": [
            {"type": "bar", "name": "ok", "x": x, "y": [p.runs - p.errors for p in series]},
            {"type": "bar", "name": "error", "x": x, "y": [p.errors for p in series], "marker": {"color": "#c0392b"}},
        ],
        "layout": _layout("Runs", barmode="stack", **_time_axis(span)),
    }
    return _linked(
        figure,
        links,
        lambda to: [[to.at(p.at, status="ok") for p in series], [to.at(p.at, status="error") for p in series]],
    )


def error_rate_over_time(
    series: Sequence[SeriesPoint], span: Span | None = None, links: RunLinks | None = None
) -> Figure:
    """Share of runs with an error, in percent; a point opens its bucket's failed runs."""
    figure = {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "error rate",
                "x": [_iso(p.at) for p in series],
                "y": [round(100 * p.errors / p.runs, 2) if p.runs else 0 for p in series],
            }
        ],
        "layout": _layout("Error rate (%)", yaxis={"rangemode": "tozero"}, **_time_axis(span)),
    }
    return _linked(figure, links, lambda to: [[to.at(p.at, status="error") for p in series]])


def latency_over_time(series: Sequence[SeriesPoint], span: Span | None = None, links: RunLinks | None = None) -> Figure:
    """p50 and p95 run latency in milliseconds; a bucket whose runs have no end has a gap (None). A point
    opens its bucket's runs."""
    x = [_iso(p.at) for p in series]
    figure = {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "p50", "x": x, "y": [p.p50_ms for p in series]},
            {"type": "scatter", "mode": "lines+markers", "name": "p95", "x": x, "y": [p.p95_ms for p in series]},
        ],
        "layout": _layout("Latency (ms)", yaxis={"rangemode": "tozero"}, **_time_axis(span)),
    }
    return _linked(figure, links, lambda to: [[to.at(p.at) for p in series]] * 2)


def cost_and_tokens_over_time(
    series: Sequence[SeriesPoint], span: Span | None = None, links: RunLinks | None = None
) -> Figure:
    """Cost (USD, bars, left axis) and tokens (lines, right axis); a point opens its bucket's runs."""
    x = [_iso(p.at) for p in series]
    figure = {
        "data": [
            {"type": "bar", "name": "cost (USD)", "x": x, "y": [float(p.cost_usd) for p in series]},
            {
                "type": "scatter",
                "mode": "lines",
                "name": "input tokens",
                "x": x,
                "y": [p.input_tokens for p in series],
                "yaxis": "y2",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "output tokens",
                "x": x,
                "y": [p.output_tokens for p in series],
                "yaxis": "y2",
            },
        ],
        "layout": _layout(
            "Cost and tokens",
            yaxis={"title": {"text": "USD"}, "rangemode": "tozero", "automargin": True},
            yaxis2={
                "title": {"text": "tokens"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "automargin": True,
            },
            # Below the plot: on the right it would cover the second axis.
            legend={"orientation": "h", "y": -0.3},
            margin=_MARGIN_RIGHT_AXIS,
            **_time_axis(span),
        ),
    }
    return _linked(figure, links, lambda to: [[to.at(p.at) for p in series]] * 3)


def cost_by(
    title: str,
    shares: Sequence[Share],
    *,
    empty_label: str = "(none)",
    links: RunLinks | None = None,
    key: str | None = None,
) -> Figure:
    """Horizontal bars of cost per key, largest on top; the hover shows the run (or call) count. With
    `links` and `key` (the run list's filter for this key: agent, bundle, model, user), a bar opens the
    window's runs of its key; the empty key has no filter to name it, and no link."""
    ordered = list(reversed(shares))  # plotly draws the first category at the bottom
    figure = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [float(s.cost_usd) for s in ordered],
                "y": [label(s.key) if s.key else empty_label for s in ordered],
                "customdata": [s.runs for s in ordered],
                "hovertemplate": "%{y}: $%{x:.4f} (%{customdata})<extra></extra>",
            }
        ],
        "layout": _layout(title, height=max(160, 60 + 24 * len(ordered)), yaxis={"automargin": True}),
    }
    if key is None:
        return figure
    return _linked(figure, links, lambda to: [[to.whole(**{key: s.key}) if s.key else None for s in ordered]])


def tool_calls(stats: Sequence[ToolStat], links: RunLinks | None = None) -> Figure:
    """Calls per tool (ok and failed stacked), with each tool's error rate in its hover text. A bar opens
    the runs that called the tool (the failed part: those of them that failed)."""
    ordered = list(reversed(stats))
    tools = [label(t.tool) for t in ordered]
    rates = [round(100 * t.errors / t.calls, 1) if t.calls else 0 for t in ordered]
    figure = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "ok",
                "x": [t.calls - t.errors for t in ordered],
                "y": tools,
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": "error",
                "x": [t.errors for t in ordered],
                "y": tools,
                "customdata": rates,
                "hovertemplate": "%{y}: %{x} failed (%{customdata}%)<extra></extra>",
                "marker": {"color": "#c0392b"},
            },
        ],
        "layout": _layout(
            "Tool calls", barmode="stack", height=max(160, 60 + 24 * len(ordered)), yaxis={"automargin": True}
        ),
    }
    return _linked(
        figure,
        links,
        lambda to: [[to.whole(tool=t.tool) for t in ordered], [to.whole(tool=t.tool, status="error") for t in ordered]],
    )


def steps_histogram(counts: Sequence[tuple[int, int]], *, max_bars: int = 40) -> Figure:
    """Runs by number of steps. Past `max_bars` distinct counts, counts are grouped into equal-width bins
    (labelled by their lower bound) so that a long tail does not make a thousand bars."""
    if not counts:
        x: list[int] = []
        y: list[int] = []
    elif len(counts) <= max_bars:
        x = [steps for steps, _ in counts]
        y = [runs for _, runs in counts]
    else:
        low, high = counts[0][0], counts[-1][0]
        width = -(-(high - low + 1) // max_bars)  # ceiling division
        bins: dict[int, int] = {}
        for steps, runs in counts:
            lower = low + (steps - low) // width * width
            bins[lower] = bins.get(lower, 0) + runs
        x, y = list(bins), list(bins.values())
    return {
        "data": [{"type": "bar", "name": "runs", "x": x, "y": y}],
        # Categories: step counts are integers, and a numeric axis would tick at 3.6, 3.8, ...
        "layout": _layout(
            "Steps per run", xaxis={"title": {"text": "steps"}, "type": "category"}, yaxis={"title": {"text": "runs"}}
        ),
    }


# Per-run metrics compared across bundles: (label, value of a bundle or None when it had no runs).
BUNDLE_METRICS: tuple[tuple[str, Callable[[BundleStat], float | None]], ...] = (
    ("error rate %", lambda b: round(100 * b.errors / b.runs, 2) if b.runs else None),
    ("p50 ms", lambda b: b.p50_ms),
    ("p95 ms", lambda b: b.p95_ms),
    ("cost/run USD", lambda b: float(b.cost_usd) / b.runs if b.runs else None),
    ("tokens/run", lambda b: b.tokens / b.runs if b.runs else None),
    ("steps/run", lambda b: b.steps / b.runs if b.runs else None),
    ("tool calls/run", lambda b: b.tool_calls / b.runs if b.runs else None),
)


def bundles_side_by_side(bundles: Sequence[BundleStat], links: RunLinks | None = None) -> Figure:
    """A small panel per metric, a bar per bundle in each (in the given order, newest first), so that the
    newest bundle compares with the previous one at a glance. Metrics are per run: bundles with different
    traffic compare fairly; each panel has its own scale because the units differ. A trace per (metric,
    bundle): a bundle keeps its colour in every panel and has one legend entry."""
    data = []
    layout = _layout("Bundles side by side", height=320, legend={"orientation": "h", "y": -0.2})
    layout["grid"] = {"rows": 1, "columns": len(BUNDLE_METRICS), "pattern": "independent"}
    for i, (metric, value) in enumerate(BUNDLE_METRICS, start=1):
        suffix = "" if i == 1 else str(i)
        for j, b in enumerate(bundles):
            name = label(b.bundle) if b.bundle else "(none)"
            data.append(
                {
                    "type": "bar",
                    "name": name,
                    "legendgroup": name,
                    "showlegend": i == 1,
                    "x": [name],
                    "y": [value(b)],
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                    "marker": {"color": _PALETTE[j % len(_PALETTE)]},
                    # The name through plotly's own field, not pasted into the template.
                    "hovertemplate": f"%{{fullData.name}}: %{{y}} {metric}<extra></extra>",
                }
            )
        layout[f"xaxis{suffix}"] = {"title": {"text": metric, "font": {"size": 11}}, "showticklabels": False}
    # A bar opens the window's runs of its bundle.
    return _linked(
        {"data": data, "layout": layout},
        links,
        lambda to: [[to.whole(bundle=b.bundle) if b.bundle else None] for _ in BUNDLE_METRICS for b in bundles],
    )


def bundle_traffic(rows: Sequence[tuple[str, datetime, int]], links: RunLinks | None = None) -> Figure:
    """Runs per bucket per bundle, stacked: the traffic share moving from one bundle to the next. A bar
    opens the bundle's runs of its bucket (the empty bundle: the bucket's runs)."""
    by_bundle: dict[str, tuple[list[str], list[int], list[str | None]]] = {}
    for bundle, at, runs in rows:
        xs, ys, urls = by_bundle.setdefault(bundle, ([], [], []))
        xs.append(_iso(at))
        ys.append(runs)
        urls.append(None if links is None else links.at(at, bundle=bundle) if bundle else links.at(at))
    figure = {
        "data": [
            {"type": "bar", "name": label(bundle) if bundle else "(none)", "x": xs, "y": ys}
            for bundle, (xs, ys, _) in by_bundle.items()
        ],
        "layout": _layout("Runs by bundle", barmode="stack"),
    }
    return _linked(figure, links, lambda _: [urls for _, _, urls in by_bundle.values()])
