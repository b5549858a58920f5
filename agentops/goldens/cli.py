"""`agentops eval`: run an agent on a golden set and exit with the gate's verdict, for a CI job.

    agentops eval --project SLUG --set NAME[@VERSION] --bundle B --cmd "python my_agent.py"
                  [--baseline B0] [--config agentops-eval.toml] [--repeat K] [--concurrency N]
                  [--junit FILE] [--summary FILE] [--wait-traces SECONDS]

An HTTP client of a running agentops (AGENTOPS_URL, AGENTOPS_TOKEN), using the standard library only:
agentops.cli dispatches here before the settings load, so it opens no database and imports no Django.
The HTTP conversation and the reports are shared with the Python API, agentops.evals (eval_http,
eval_reports); what is the CLI's own is running the agent as a command.

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
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentops.goldens import eval_http
from agentops.goldens.eval_http import EXIT, EXIT_ERROR, Client, EvalError, clean, load_gate, set_and_version
from agentops.goldens.eval_reports import junit, summary, table

STDERR_SHOWN = 2000


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
                f"agentops: case {clean(o.case_key)} attempt {o.attempt}: the command exited {o.exit_code}",
                file=sys.stderr,
            )
            if o.stderr.strip():
                print(o.stderr.rstrip(), file=sys.stderr)
    return outcomes  # fmt: skip


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
        name, version = set_and_version(args.set)
        command = _command(args.cmd)
        gate = load_gate(args.config)
        ingest_key = os.environ.get("AGENTOPS_INGEST_KEY", "")
        if not ingest_key:
            print("agentops: AGENTOPS_INGEST_KEY is not set: the agent's traces will not be accepted", file=sys.stderr)
        client = Client(args.url, token, args.project)
        created = eval_http.create(
            client,
            set_name=name,
            version=version,
            bundle=args.bundle,
            repeat=args.repeat,
            baseline=args.baseline,
            gate=gate,
        )
        outcomes = run_all(args, command, created, ingest_key)
        # Without trace ids: the server finds each attempt's run by its tags (agentops.goldens.eval_traces).
        results = [{"case_key": o.case_key, "attempt": o.attempt, "output": o.output} for o in outcomes]
        eval_http.submit(client, created["id"], results)
        body = eval_http.score(client, created["id"], args.wait_traces)
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
