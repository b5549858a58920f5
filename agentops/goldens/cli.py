"""`agentops eval`: run an agent on a golden set and exit with the gate's verdict, for a CI job.

    agentops eval --project SLUG --set NAME[@VERSION] --bundle B --cmd "python my_agent.py"
                  [--baseline B0] [--config agentops-eval.toml] [--repeat K] [--concurrency N]
                  [--junit FILE] [--summary FILE] [--wait-traces SECONDS]

An HTTP client of a running agentops (AGENTOPS_URL, AGENTOPS_TOKEN), using the standard library only:
agentops.cli dispatches here before the settings load, so it opens no database and imports no Django.

1. POST eval-runs/ (the gate from the config's [gate] table) gets the cases to run;
2. each case, K times (a pool of --concurrency), runs --cmd with the case's input as JSON on stdin and
   OTEL_* set so that the agent's traces reach agentops tagged with the eval run, case, attempt and
   bundle (OTEL_RESOURCE_ATTRIBUTES); its stdout (JSON if it parses, else text) is the output;
3. POST results/ without trace ids: the server finds each attempt's run by those tags
   (agentops.goldens.eval_traces);
4. POST score/ until the verdict (200); past --wait-traces, once more with {"final": true}.

Exit codes: 0 pass, 1 fail (a regression or a threshold missed), 2 an error of its own (bad option or
config, server unreachable, token refused, command not found), 3 inconclusive.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT = {"pass": 0, "fail": 1, "inconclusive": 3}
EXIT_ERROR = 2
RESULTS_PER_REQUEST = 500
POLL_SECONDS = 1.0
STDERR_SHOWN = 2000


class EvalError(Exception):
    """An error of the CLI's own: one line on stderr, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentops eval",
        description="Run an agent on a golden set and gate on the result (exit 0 pass, 1 fail, 2 error of "
        "the command itself, 3 inconclusive). Needs AGENTOPS_URL and AGENTOPS_TOKEN (a personal API token "
        "that may manage golden sets) and, for the agent's traces to be accepted, AGENTOPS_INGEST_KEY (the "
        "project's ingest key, passed to the agent in OTEL_EXPORTER_OTLP_HEADERS).",
    )
    parser.add_argument("--project", required=True, help="the project's slug")
    parser.add_argument(
        "--set", required=True, metavar="NAME[@VERSION]", help="the golden set (default: its current version)"
    )
    parser.add_argument("--bundle", required=True, help="the bundle (version of the agent) evaluated")
    parser.add_argument(
        "--cmd", required=True, help="the agent's command: reads a case's input as JSON on stdin, prints its output"
    )
    parser.add_argument("--baseline", help="compare with this bundle's latest eval on the same set version")
    parser.add_argument(
        "--config",
        type=Path,
        help="a TOML file whose [gate] table sets the thresholds (default: agentops-eval.toml if present)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="K", help="run each case K times; a case passes by majority"
    )
    parser.add_argument("--concurrency", type=int, default=4, metavar="N", help="agent processes at a time (default 4)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report here")
    parser.add_argument(
        "--summary", type=Path, metavar="FILE", help="write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)"
    )
    parser.add_argument(
        "--wait-traces",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for traces to land (default 120; 0 for an agent that sends none)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="longest run of the command on one case (default 600)",
    )
    parser.add_argument("--url", default=os.environ.get("AGENTOPS_URL"), help="default: $AGENTOPS_URL")
    return parser  # fmt: skip


def _clean(value: Any) -> str:
    """A server or agent value for a terminal: control characters dropped."""
    return "".join(c for c in str(value) if c.isprintable())


class Client:
    def __init__(self, url: str, token: str, project: str) -> None:
        self.base = url.rstrip("/")
        self.root = f"{self.base}/api/v1/projects/{urllib.parse.quote(project, safe='')}/eval-runs/"
        self.token = token

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.root + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            raise EvalError(self._http_error(exc)) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise EvalError(f"cannot reach agentops at {self.base}: {getattr(exc, 'reason', exc)}") from exc
        except ValueError as exc:
            raise EvalError(f"{self.base} did not answer with JSON: is AGENTOPS_URL an agentops server?") from exc

    def _http_error(self, exc: urllib.error.HTTPError) -> str:
        try:
            body = json.loads(exc.read())
        except (ValueError, OSError):
            body = None
        if exc.code == 401:
            return f"{self.base} refused AGENTOPS_TOKEN (401): use a personal API token from your account page"
        if exc.code == 404:
            detail = body.get("detail") if isinstance(body, dict) else None
            return (
                f"{self.base} answered 404: {_clean(detail or 'not found')} (check --project, AGENTOPS_URL, "
                "and that the token's user may manage golden sets in that project)"
            )
        if isinstance(body, dict) and body:
            problems = "; ".join(
                f"{_clean(k)}: {_clean(v[0] if isinstance(v, list) and v else v)}" for k, v in body.items()
            )
            return f"{self.base} refused the request ({exc.code}): {problems}"
        return f"{self.base} answered {exc.code}: {exc.reason}"


def load_gate(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        default = Path("agentops-eval.toml")
        if not default.is_file():
            return None
        path = default
    try:
        with path.open("rb") as f:
            config = tomllib.load(f)
    except OSError as exc:
        raise EvalError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"{path} is not valid TOML: {exc}") from exc
    gate = config.get("gate")
    if gate is not None and not isinstance(gate, dict):
        raise EvalError(f"{path}: [gate] must be a table")
    return gate


def _set_and_version(value: str) -> tuple[str, int | None]:
    name, at, version = value.rpartition("@")
    if not at:
        return value, None
    if not version.isdigit():
        raise EvalError(f"--set {value}: give NAME or NAME@VERSION (a whole number)")
    return name, int(version)


def _command(cmd: str) -> list[str]:
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise EvalError(f"--cmd: {exc}") from exc
    if not argv:
        raise EvalError("--cmd is empty")
    if shutil.which(argv[0]) is None:
        raise EvalError(f"command not found: {argv[0]}")
    return argv


def _attribute(value: str) -> str:
    # OTEL_RESOURCE_ATTRIBUTES is key=value,... with values percent-encoded (W3C baggage octets).
    return urllib.parse.quote(value, safe="")


def agent_env(
    base: dict[str, str], url: str, ingest_key: str, run_id: int, case: str, attempt: int, bundle: str
) -> dict[str, str]:
    env = dict(base)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = url.rstrip("/")
    if ingest_key:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = f"x-api-key={_attribute(ingest_key)}"
    tags = {
        "agentops.eval.run": str(run_id),
        "agentops.eval.case": case,
        "agentops.eval.attempt": str(attempt),
        "agentops.bundle.id": bundle,
    }
    ours = ",".join(f"{k}={_attribute(v)}" for k, v in tags.items())
    # The SDK reads the pairs in order, the last of a key winning: ours come last.
    existing = base.get("OTEL_RESOURCE_ATTRIBUTES", "").strip().strip(",")
    env["OTEL_RESOURCE_ATTRIBUTES"] = f"{existing},{ours}" if existing else ours
    return env  # fmt: skip


@dataclass
class Outcome:
    case_key: str
    attempt: int
    output: Any
    exit_code: int
    stderr: str


def run_case(
    argv: list[str], env: dict[str, str], case_key: str, attempt: int, case_input: Any, timeout: float
) -> Outcome:
    try:
        done = subprocess.run(
            argv, input=json.dumps(case_input), env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise EvalError(f"command not found: {argv[0]}") from exc
    except PermissionError as exc:
        raise EvalError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired:
        return Outcome(case_key, attempt, None, -1, f"timed out after {timeout:g} s")
    text = done.stdout.strip()
    try:
        output: Any = json.loads(text)
    except ValueError:
        output = text
    return Outcome(case_key, attempt, output, done.returncode, done.stderr[-STDERR_SHOWN:])  # fmt: skip


def run_all(args: argparse.Namespace, argv: list[str], created: dict[str, Any], ingest_key: str) -> list[Outcome]:
    run_id, base = created["id"], dict(os.environ)
    jobs = [(c["case_key"], n, c.get("input")) for c in created.get("cases", []) for n in range(1, args.repeat + 1)]
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [
            pool.submit(
                run_case,
                argv,
                agent_env(base, args.url, ingest_key, run_id, key, n, args.bundle),
                key,
                n,
                value,
                args.timeout,
            )
            for key, n, value in jobs
        ]
        outcomes = [f.result() for f in futures]
    for o in outcomes:
        if o.exit_code != 0:
            print(
                f"agentops: case {_clean(o.case_key)} attempt {o.attempt}: the command exited {o.exit_code}",
                file=sys.stderr,
            )
            if o.stderr.strip():
                print(o.stderr.rstrip(), file=sys.stderr)
    return outcomes  # fmt: skip


def submit(client: Client, run_id: int, outcomes: list[Outcome]) -> None:
    rows = [{"case_key": o.case_key, "attempt": o.attempt, "output": o.output} for o in outcomes]
    for i in range(0, len(rows), RESULTS_PER_REQUEST):
        client.post(f"{run_id}/results/", rows[i : i + RESULTS_PER_REQUEST])


def score(client: Client, run_id: int, wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        status, body = client.post(f"{run_id}/score/", {})
        if status == 200:
            return dict(body)
        if time.monotonic() >= deadline:
            count = body.get("waiting_count", 0)
            print(
                f"agentops: {count} attempt(s) still waiting for their trace after {wait:g} s: scoring without them",
                file=sys.stderr,
            )
            status, body = client.post(f"{run_id}/score/", {"final": True})
            return dict(body)
        time.sleep(POLL_SECONDS)  # fmt: skip


# Reports ---------------------------------------------------------------------------------------------


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
            _clean(v)
            for v in (r.case_key, r.verdict, r.failed or "-", _ms(r.latency_ms), _usd(r.cost_usd), r.run_url or "-")
        )
        for r in rows(body)
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines += ["", *(f"- {_clean(r.get('message', ''))}" for r in body.get("reasons", []))]
    lines.append(
        f"{_clean(body.get('bundle'))} on {_clean(body.get('set'))} v{body.get('version')}: {_clean(body.get('verdict'))}"
    )
    return "\n".join(lines)  # fmt: skip


def _x(value: Any) -> str:
    """Text for XML: control characters (not allowed in XML 1.0) dropped, lines kept."""
    return "\n".join(_clean(line) for line in str(value).split("\n"))


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
    text = _clean(value)
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


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    token = os.environ.get("AGENTOPS_TOKEN", "")
    try:
        if not args.url:
            raise EvalError("set AGENTOPS_URL (or --url) to the agentops server, e.g. http://127.0.0.1:8000")
        if not token:
            raise EvalError("set AGENTOPS_TOKEN to a personal API token (your account page, API tokens)")
        if not 1 <= args.concurrency <= 64:
            raise EvalError("--concurrency: give a number from 1 to 64")
        name, version = _set_and_version(args.set)
        command = _command(args.cmd)
        gate = load_gate(args.config)
        ingest_key = os.environ.get("AGENTOPS_INGEST_KEY", "")
        if not ingest_key:
            print("agentops: AGENTOPS_INGEST_KEY is not set: the agent's traces will not be accepted", file=sys.stderr)
        client = Client(args.url, token, args.project)
        request: dict[str, Any] = {"set": name, "bundle": args.bundle, "repeat": args.repeat}
        request |= {
            k: v for k, v in (("version", version), ("baseline", args.baseline), ("gate", gate)) if v is not None
        }
        _, created = client.post("", request)
        outcomes = run_all(args, command, created, ingest_key)
        submit(client, created["id"], outcomes)
        body = score(client, created["id"], args.wait_traces)
        print(table(body))
        if args.junit:
            args.junit.write_bytes(junit(body))
        if args.summary:
            with args.summary.open("a", encoding="utf-8") as f:  # GITHUB_STEP_SUMMARY is appended to
                f.write(summary(body))
    except EvalError as exc:
        print(f"agentops: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"agentops: cannot write a report: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT.get(str(body.get("verdict")), EXIT_ERROR)
