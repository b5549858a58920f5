"""The dashboard figures as data: structure and values, no browser, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from traces import charts
from traces.selectors.dashboards import BundleStat, SeriesPoint, Share, ToolStat

T0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
T1 = datetime(2026, 11, 1, 11, tzinfo=UTC)
SERIES = [
    SeriesPoint(T0, runs=4, errors=1, p50_ms=120.0, p95_ms=900.5, cost_usd=Decimal("0.25"), input_tokens=10, output_tokens=2),
    SeriesPoint(T1, runs=2, errors=0, p50_ms=None, p95_ms=None, cost_usd=Decimal(0), input_tokens=0, output_tokens=0),
]  # fmt: skip


def _bundle(name: str, runs: int, **kw) -> BundleStat:
    values: dict[str, Any] = {"errors": 0, "p50_ms": 100.0, "p95_ms": 200.0, "cost_usd": Decimal("1.5"), "tokens": 300, "steps": 12,
              "tool_calls": 6, "unpriced_steps": 0} | kw  # fmt: skip
    return BundleStat(bundle=name, first_seen=T0, last_seen=T1, runs=runs, **values)


def test_every_figure_is_plain_json():
    figures = [
        charts.runs_over_time(SERIES),
        charts.error_rate_over_time(SERIES),
        charts.latency_over_time(SERIES),
        charts.cost_and_tokens_over_time(SERIES),
        charts.cost_by("Cost by agent", [Share("a", 1, Decimal("0.1"))]),
        charts.tool_calls([ToolStat("t", 3, 1)]),
        charts.steps_histogram([(3, 2)]),
        charts.bundles_side_by_side([_bundle("b2", 3), _bundle("b1", 0)]),
        charts.bundle_traffic([("b1", T0, 2)]),
    ]
    for figure in figures:
        assert set(figure) == {"data", "layout"}
        assert json.loads(json.dumps(figure)) == figure  # no Decimal, no datetime left
        assert figure["layout"]["title"]["text"]


def test_runs_over_time_stacks_errors_on_successes():
    fig = charts.runs_over_time(SERIES)
    ok, error = fig["data"]
    assert ok["x"] == error["x"] == ["2026-11-01T10:00:00+00:00", "2026-11-01T11:00:00+00:00"]
    assert (ok["y"], error["y"]) == ([3, 2], [1, 0])
    assert fig["layout"]["barmode"] == "stack"


def test_error_rate_is_a_percentage():
    (trace,) = charts.error_rate_over_time(SERIES)["data"]
    assert trace["y"] == [25.0, 0.0]
    (empty,) = charts.error_rate_over_time([SeriesPoint(T0, 0, 0, None, None, Decimal(0), 0, 0)])["data"]
    assert empty["y"] == [0]


def test_latency_leaves_gaps_where_no_run_ended():
    p50, p95 = charts.latency_over_time(SERIES)["data"]
    assert (p50["name"], p50["y"]) == ("p50", [120.0, None])
    assert (p95["name"], p95["y"]) == ("p95", [900.5, None])


def test_cost_and_tokens_use_two_axes():
    cost, tin, tout = charts.cost_and_tokens_over_time(SERIES)["data"]
    assert cost["y"] == [0.25, 0.0] and "yaxis" not in cost
    assert (tin["y"], tin["yaxis"], tout["y"]) == ([10, 0], "y2", [2, 0])
    assert charts.cost_and_tokens_over_time(SERIES)["layout"]["yaxis2"]["overlaying"] == "y"


def test_cost_by_puts_the_largest_on_top_and_names_the_empty_key():
    shares = [Share("big", 5, Decimal("2.5")), Share("", 1, Decimal("0.5"))]
    (bar,) = charts.cost_by("Cost by end user", shares)["data"]
    # Plotly draws the first category at the bottom, so the largest comes last.
    assert bar["y"] == ["(none)", "big"]
    assert bar["x"] == [0.5, 2.5]
    assert bar["customdata"] == [1, 5]
    assert bar["orientation"] == "h"


def test_tool_calls_split_ok_and_failed_with_the_error_rate():
    ok, failed = charts.tool_calls([ToolStat("search", 10, 0), ToolStat("lookup", 4, 1)])["data"]
    assert ok["y"] == failed["y"] == ["lookup", "search"]
    assert (ok["x"], failed["x"]) == ([3, 10], [1, 0])
    assert failed["customdata"] == [25.0, 0.0]


def test_steps_histogram_shows_each_count_when_few():
    (bar,) = charts.steps_histogram([(3, 5), (4, 1), (9, 2)])["data"]
    assert (bar["x"], bar["y"]) == ([3, 4, 9], [5, 1, 2])


def test_steps_histogram_bins_a_long_tail_without_losing_runs():
    counts = [(n, 1) for n in range(1, 1001)]
    (bar,) = charts.steps_histogram(counts, max_bars=40)["data"]
    assert len(bar["x"]) <= 40
    assert sum(bar["y"]) == 1000
    assert bar["x"][0] == 1 and bar["x"][1] - bar["x"][0] == 25
    assert bar["y"][0] == 25


def test_steps_histogram_of_nothing():
    (bar,) = charts.steps_histogram([])["data"]
    assert bar["x"] == [] and bar["y"] == []


def test_bundles_side_by_side_has_a_panel_per_metric_with_per_run_values():
    fig = charts.bundles_side_by_side([_bundle("new", 3, errors=1), _bundle("old", 0)])
    assert len(fig["data"]) == 2 * len(charts.BUNDLE_METRICS)
    assert fig["layout"]["grid"]["columns"] == len(charts.BUNDLE_METRICS)
    values = {(t["name"], t["xaxis"]): t["y"][0] for t in fig["data"]}
    axis = {label: "x" if i == 0 else f"x{i + 1}" for i, (label, _) in enumerate(charts.BUNDLE_METRICS)}
    assert values["new", axis["error rate %"]] == 33.33
    assert values["old", axis["error rate %"]] is None  # no runs in the window: no value, not zero
    assert values["new", axis["cost/run USD"]] == 0.5
    assert values["new", axis["steps/run"]] == 4.0
    assert values["old", axis["p95 ms"]] == 200.0
    assert all(t["yaxis"] == t["xaxis"].replace("x", "y") for t in fig["data"])
    assert "xaxis7" in fig["layout"]
    # A bundle keeps its colour across the panels and has one legend entry.
    for name in ("new", "old"):
        traces = [t for t in fig["data"] if t["name"] == name]
        assert len({t["marker"]["color"] for t in traces}) == 1
        assert sum(t["showlegend"] for t in traces) == 1
    assert fig["data"][0]["marker"]["color"] != fig["data"][1]["marker"]["color"]


def test_bundle_traffic_has_a_trace_per_bundle():
    fig = charts.bundle_traffic([("b1", T0, 2), ("b1", T1, 1), ("", T1, 4)])
    assert [(t["name"], t["y"]) for t in fig["data"]] == [("b1", [2, 1]), ("(none)", [4])]
    assert fig["layout"]["barmode"] == "stack"


def test_time_series_span_the_selected_window_whatever_the_data() -> None:
    start, end = datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)
    one_point = [SeriesPoint(T0, 1, 1, 1000.0, 1000.0, Decimal("0.01"), 10, 1)]
    for make in (
        charts.runs_over_time,
        charts.error_rate_over_time,
        charts.latency_over_time,
        charts.cost_and_tokens_over_time,
    ):
        axis = make(one_point, (start, end))["layout"]["xaxis"]
        assert axis == {"type": "date", "range": [start.isoformat(), end.isoformat()]}, make.__name__
        assert "xaxis" not in make(one_point)["layout"]


# --- labels from data are inert for plotly -------------------------------------------------------------

HOSTILE = '<a href="https://evil.example">x</a><span style="font-size:120px">BIG</span> %{x} &amp;'


def _strings(figure: Any) -> list[str]:
    if isinstance(figure, str):
        return [figure]
    if isinstance(figure, dict):
        return [s for value in figure.values() for s in _strings(value)]
    if isinstance(figure, list):
        return [s for value in figure for s in _strings(value)]
    return []


def test_every_label_from_data_is_escaped_for_plotly() -> None:
    from traces.plotly_text import label, template_literal

    assert label(HOSTILE) == (
        '&lt;a href="https://evil.example"&gt;x&lt;/a&gt;&lt;span style="font-size:120px"&gt;BIG&lt;/span&gt; %{x} &amp;amp;'
    )
    assert "%{" not in template_literal(HOSTILE)
    share = [Share(HOSTILE, 3, Decimal("1.5"))]
    figures = [
        charts.cost_by("Cost by end user", share),
        charts.tool_calls([ToolStat(HOSTILE, 4, 1)]),
        charts.bundles_side_by_side([_bundle(HOSTILE, 10)]),
        charts.bundle_traffic([(HOSTILE, datetime(2026, 1, 1, tzinfo=UTC), 5)]),
    ]
    for figure in figures:
        texts = _strings(figure)
        assert not any("<a" in t or "<span" in t for t in texts), figure
        assert any("&lt;a href" in t for t in texts), figure  # the value is there, escaped
        # No hovertemplate carries the data itself: plotly would read its %{x} as a field.
        assert not any(HOSTILE[:10] in t for t in _strings([d.get("hovertemplate", "") for d in figure["data"]]))


# --- links to the runs behind a point ---

LINKS = charts.RunLinks(
    base="/p/acme/runs/",
    start=datetime(2026, 11, 1, 10, 30, tzinfo=UTC),
    end=datetime(2026, 11, 2, tzinfo=UTC),
    bucket=T1 - T0,
    filters=(("environment", "prod"),),
)


def query(url: str | None) -> dict[str, list[str]]:
    from urllib.parse import parse_qs, urlsplit

    assert url is not None and url.startswith("/p/acme/runs/?")
    return parse_qs(urlsplit(url).query)


def test_a_time_bucket_links_to_its_runs_within_the_window():
    fig = charts.runs_over_time(SERIES, links=LINKS)
    ok, error = fig["links"]
    assert len(ok) == len(error) == len(SERIES)
    # The first bucket starts before the window: cut to it.
    assert query(error[0]) == {
        "from": ["2026-11-01T10:30:00Z"],
        "to": ["2026-11-01T11:00:00Z"],
        "environment": ["prod"],
        "status": ["error"],
    }
    assert query(ok[1])["from"] == ["2026-11-01T11:00:00Z"] and query(ok[1])["to"] == ["2026-11-01T12:00:00Z"]
    assert query(ok[1])["status"] == ["ok"]
    (rate,) = charts.error_rate_over_time(SERIES, links=LINKS)["links"]
    assert query(rate[1])["status"] == ["error"]
    assert len(charts.cost_and_tokens_over_time(SERIES, links=LINKS)["links"]) == 3
    assert len(charts.latency_over_time(SERIES, links=LINKS)["links"]) == 2


def test_a_key_links_to_its_runs_over_the_window_and_the_empty_key_to_nothing():
    shares = [Share("big&bot", 5, Decimal("2.5")), Share("", 1, Decimal("0.5"))]
    (urls,) = charts.cost_by("Cost by agent", shares, links=LINKS, key="agent")["links"]
    assert urls[0] is None  # "(none)": no filter names it
    assert query(urls[1]) == {
        "from": ["2026-11-01T10:30:00Z"],
        "to": ["2026-11-02T00:00:00Z"],
        "environment": ["prod"],
        "agent": ["big&bot"],
    }
    ok, failed = charts.tool_calls([ToolStat("lookup", 4, 1)], links=LINKS)["links"]
    assert query(ok[0])["tool"] == ["lookup"] and "status" not in query(ok[0])
    assert query(failed[0])["status"] == ["error"]
    (traffic,) = charts.bundle_traffic([("b1", T0, 2)], links=LINKS)["links"]
    assert query(traffic[0])["bundle"] == ["b1"]
    side = charts.bundles_side_by_side([_bundle("b2", 3), _bundle("", 1)], links=LINKS)
    assert len(side["links"]) == len(side["data"])
    assert query(side["links"][0][0])["bundle"] == ["b2"] and side["links"][1] == [None]


def test_a_figure_without_links_has_none():
    assert "links" not in charts.runs_over_time(SERIES) and "links" not in charts.cost_by("t", [], key="agent")


def test_the_second_axis_has_room_on_the_right():
    layout = charts.cost_and_tokens_over_time(SERIES)["layout"]
    assert layout["margin"]["r"] >= 60 and layout["yaxis2"]["automargin"] is True
