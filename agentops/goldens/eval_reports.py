"""The reports of a scored eval run, from the server's JSON: a terminal table, JUnit XML and a Markdown
summary (a CI job summary or a PR comment). Shared by `agentops eval` and agentops.evals.

Every value comes from the server or the agent and is hostile: control characters are dropped for the
terminal and XML, and Markdown cells are escaped so that a case key cannot add a column, a link or HTML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from agentops.goldens.eval_http import clean


@dataclass
class Row:
    case_key: str
    verdict: str
    failed: str  # the first failed assertion of the first failed attempt, "" when none
    detail: str
    latency_ms: float | None
    cost_usd: float | None
    run_url: str


def _label(outcome: dict[str, Any]) -> str:
    return f"{outcome.get('type')}" + (f" ({outcome['name']})" if outcome.get("name") else "")


def rows(body: dict[str, Any]) -> list[Row]:
    found = []
    for case in body.get("cases", []):
        attempts = case.get("attempts") or []
        failing = next((a for a in attempts if a.get("passed") is False), None)
        shown = failing or (attempts[0] if attempts else {})
        bad = next((o for o in shown.get("outcomes", []) if o.get("status") != "passed"), None)
        verdict = "pass" if case.get("passed") else "fail"
        found.append(
            Row(
                case_key=str(case.get("case_key")),
                verdict=verdict,
                failed=_label(bad) + f": {bad.get('status')}" if bad and verdict == "fail" else "",
                detail=str(bad.get("reason", "")) if bad and verdict == "fail" else "",
                latency_ms=shown.get("latency_ms"),
                cost_usd=shown.get("cost_usd"),
                run_url=shown.get("run_url") or ("" if attempts else "never submitted"),
            )
        )
    return found


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def table(body: dict[str, Any]) -> str:
    header = ("case", "verdict", "failed assertion", "latency", "cost", "run")
    cells = [header] + [
        tuple(
            clean(v)
            for v in (r.case_key, r.verdict, r.failed or "-", _ms(r.latency_ms), _usd(r.cost_usd), r.run_url or "-")
        )
        for r in rows(body)
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines += ["", *(f"- {clean(r.get('message', ''))}" for r in body.get("reasons", []))]
    lines.append(
        f"{clean(body.get('bundle'))} on {clean(body.get('set'))} v{body.get('version')}: {clean(body.get('verdict'))}"
    )
    return "\n".join(lines)  # fmt: skip


def _x(value: Any) -> str:
    """Text for XML: control characters (not allowed in XML 1.0) dropped, lines kept."""
    return "\n".join(clean(line) for line in str(value).split("\n"))


def junit(body: dict[str, Any]) -> bytes:
    found = rows(body)
    suite_name = _x(f"agentops eval {body.get('set')} v{body.get('version')} ({body.get('bundle')})")
    gate_failures = [r for r in body.get("reasons", []) if not r.get("case_key")]
    failures = sum(r.verdict == "fail" for r in found) + (1 if body.get("verdict") != "pass" and gate_failures else 0)
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(found) + 1), failures=str(failures), errors="0")
    for r in found:
        case = ET.SubElement(suite, "testcase", classname=_x(body.get("set")), name=_x(r.case_key))
        if r.latency_ms is not None:
            case.set("time", f"{r.latency_ms / 1000:.3f}")
        if r.verdict == "fail":
            failure = ET.SubElement(case, "failure", message=_x(f"{r.case_key}: {r.failed or 'failed'}"))
            failure.text = _x("\n".join(x for x in (r.detail, f"run: {r.run_url}" if r.run_url else "") if x))
    gate = ET.SubElement(suite, "testcase", classname=_x(body.get("set")), name="gate")
    if body.get("verdict") != "pass":
        messages = [str(r.get("message", "")) for r in body.get("reasons", [])]
        failure = ET.SubElement(gate, "failure", message=_x(f"gate: {body.get('verdict')}"))
        failure.text = _x("\n".join(messages))
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def _md(value: Any) -> str:
    """Text for a Markdown table cell: no HTML, no table breaking, no formatting from the data."""
    text = clean(value)
    for c in "\\`*_[]<>|#!~":
        text = text.replace(c, "\\" + c)
    return text


def summary(body: dict[str, Any]) -> str:
    verdict = str(body.get("verdict"))
    mark = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️"}.get(verdict, "❌")
    baseline = f" against {_md(body['baseline'])}" if body.get("baseline") else ""
    lines = [
        f"### {mark} agentops eval: {_md(verdict)}",
        "",
        f"Bundle {_md(body.get('bundle'))}{baseline} on set {_md(body.get('set'))} v{body.get('version')}.",
        "",
    ]
    lines += [f"- {_md(r.get('message', ''))}" for r in body.get("reasons", [])]
    lines += ["", "| case | verdict | failed assertion | latency | cost | run |", "|---|---|---|---|---|---|"]
    for r in rows(body):
        link = f"[run]({r.run_url.replace(')', '%29').replace(' ', '%20')})" if r.run_url.startswith("http") else "-"
        lines.append(
            f"| {_md(r.case_key)} | {_md(r.verdict)} | {_md(r.failed or '-')} | {_ms(r.latency_ms)} | {_usd(r.cost_usd)} | {link} |"
        )
    return "\n".join(lines) + "\n"
