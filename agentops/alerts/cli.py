"""`agentops canary`: ask a running agentops for a canary verdict over HTTP and exit with it.

    agentops canary --project SLUG --agent A --candidate B [--baseline B0] [--since T] [--environment E] [--json]

Talks to AGENTOPS_URL (or --url) with the personal token in AGENTOPS_TOKEN; imports nothing of Django
and opens no database (agentops.cli dispatches here before the settings load), so it runs in any CI
job with this package installed. Prints the metric table, then the verdict and why.

Exit codes:
  0  pass
  1  fail
  2  no verdict: a bad option, AGENTOPS_URL or AGENTOPS_TOKEN unset, the server unreachable or
     refusing (unknown project, agent or bundle; a bad token), one line on stderr saying which
  3  inconclusive (too few runs, no baseline): retry later or decide by hand
  4  marginal: neither proven good nor proven bad; not 0, so a pipeline stops unless it chooses to
     accept it, and not 1, so that it can
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

EXIT = {"pass": 0, "fail": 1, "inconclusive": 3, "marginal": 4}
EXIT_NO_VERDICT = 2


class NoVerdict(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentops canary",
        description="Judge a candidate bundle of an agent against its baseline (exit 0 pass, 1 fail, "
        "2 no verdict, 3 inconclusive, 4 marginal).",
    )
    parser.add_argument("--project", required=True, help="the project's slug")
    parser.add_argument("--agent", required=True)
    parser.add_argument("--candidate", required=True, help="the bundle to judge")
    parser.add_argument("--baseline", help="the bundle to judge against (default: the candidate's baseline)")
    parser.add_argument(
        "--since", help="compare runs started at or after this ISO 8601 time, e.g. 2026-12-01T10:00:00Z"
    )
    parser.add_argument("--environment", help="compare runs of this environment only")
    parser.add_argument("--url", default=os.environ.get("AGENTOPS_URL"), help="default: $AGENTOPS_URL")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)")
    parser.add_argument("--json", action="store_true", help="print the server's JSON answer instead of a table")
    return parser


def _clean(value: Any) -> str:
    """A server value for a terminal: control characters (an escape sequence in a tool name) dropped."""
    return "".join(c for c in str(value) if c.isprintable())


def fetch(args: argparse.Namespace, token: str) -> dict[str, Any]:
    params = {"agent": args.agent, "candidate": args.candidate}
    params.update({k: v for k in ("baseline", "since", "environment") if (v := getattr(args, k))})
    base = args.url.rstrip("/")
    url = f"{base}/api/v1/projects/{urllib.parse.quote(args.project, safe='')}/canary/?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            body: dict[str, Any] = json.load(response)
            return body
    except urllib.error.HTTPError as exc:
        raise NoVerdict(_http_error(exc, base)) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NoVerdict(f"cannot reach agentops at {base}: {reason}") from exc
    except ValueError as exc:
        raise NoVerdict(f"{base} did not answer with JSON: is AGENTOPS_URL an agentops server?") from exc


def _http_error(exc: urllib.error.HTTPError, base: str) -> str:
    try:
        detail = json.loads(exc.read()).get("detail", "")
    except (ValueError, AttributeError, OSError):
        detail = ""
    if exc.code == 401:
        return f"{base} refused AGENTOPS_TOKEN (401): use a personal API token from your account page"
    if exc.code == 404 and not detail:
        return f"{base} has no canary API at that address (404): check AGENTOPS_URL"
    return f"{base} answered {exc.code}: {_clean(detail) or exc.reason}"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return _clean(value)


def table(body: dict[str, Any]) -> str:
    header = ("metric", "verdict", "baseline", "candidate", "effect", "p-value")
    rows = [
        (
            _clean(m["name"]),
            _clean(m["verdict"]),
            f"{_num(m['baseline_value'])} (n={m['baseline_n']})",
            f"{_num(m['candidate_value'])} (n={m['candidate_n']})",
            _num(m["effect"]),
            _num(m["p_value"]),
        )
        for m in body.get("metrics", [])
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    failed = [m for m in body.get("metrics", []) if m["verdict"] == "fail"]
    lines += ["", *(f"{_clean(m['name'])}: {_clean(m['reason'])}" for m in failed)] if failed else []
    score = body.get("score")
    scored = f" (score {score:.2f})" if isinstance(score, (int, float)) else ""
    baseline = _clean(body.get("baseline")) if body.get("baseline") else "no baseline"
    lines += [
        "",
        f"{_clean(body.get('candidate'))} against {baseline}: {_clean(body.get('verdict'))}{scored}",
        _clean(body.get("reason", "")),
    ]
    return "\n".join(lines).rstrip()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    token = os.environ.get("AGENTOPS_TOKEN", "")
    try:
        if not args.url:
            raise NoVerdict("set AGENTOPS_URL (or --url) to the agentops server, e.g. http://127.0.0.1:8000")
        if not token:
            raise NoVerdict("set AGENTOPS_TOKEN to a personal API token (your account page, API tokens)")
        body = fetch(args, token)
    except NoVerdict as exc:
        print(f"agentops: {exc}", file=sys.stderr)
        return EXIT_NO_VERDICT
    verdict = body.get("verdict")
    if verdict not in EXIT:
        print(f"agentops: unexpected answer from {args.url}: no verdict in it", file=sys.stderr)
        return EXIT_NO_VERDICT
    print(json.dumps(body, indent=2) if args.json else table(body))
    return EXIT[verdict]
