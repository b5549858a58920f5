"""The HTTP side of an eval run, shared by `agentops eval` (agentops.goldens.cli) and the Python API
(agentops.evals): start an eval run, submit the attempts' outputs, score until the verdict.

The standard library only: no Django, no settings, no database, so that both run on a CI runner with
only the package installed (AGENTOPS_URL, AGENTOPS_TOKEN). Every failure of the conversation (the
server out of reach, a refused token, a 4xx) is an EvalError with one line saying what to fix.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

EXIT = {"pass": 0, "fail": 1, "inconclusive": 3}
EXIT_ERROR = 2
RESULTS_PER_REQUEST = 500
POLL_SECONDS = 1.0


class EvalError(Exception):
    """An error of the client's own (not the agent's, not the gate's): exit 2 for the CLI."""


def clean(value: Any) -> str:
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
                f"{self.base} answered 404: {clean(detail or 'not found')} (check the project's slug, AGENTOPS_URL, "
                "and that the token's user may manage golden sets in that project)"
            )
        if isinstance(body, dict) and body:
            problems = "; ".join(
                f"{clean(k)}: {clean(v[0] if isinstance(v, list) and v else v)}" for k, v in body.items()
            )
            return f"{self.base} refused the request ({exc.code}): {problems}"
        return f"{self.base} answered {exc.code}: {exc.reason}"


def load_gate(path: Path | None) -> dict[str, Any] | None:
    """The [gate] table of `path`, else of ./agentops-eval.toml when it exists, else None."""
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


def set_and_version(value: str) -> tuple[str, int | None]:
    """NAME or NAME@VERSION."""
    name, at, version = value.rpartition("@")
    if not at:
        return value, None
    if not version.isdigit():
        raise EvalError(f"set {value}: give NAME or NAME@VERSION (a whole number)")
    return name, int(version)


def create(
    client: Client,
    *,
    set_name: str,
    version: int | None,
    bundle: str,
    repeat: int,
    baseline: str | None,
    gate: dict[str, Any] | None,
) -> dict[str, Any]:
    """POST eval-runs/: the new eval run with its `cases` [{"case_key", "input"}]."""
    request: dict[str, Any] = {"set": set_name, "bundle": bundle, "repeat": repeat}
    request |= {k: v for k, v in (("version", version), ("baseline", baseline), ("gate", gate)) if v is not None}
    _, created = client.post("", request)
    return dict(created)


def submit(client: Client, run_id: int, results: list[dict[str, Any]]) -> None:
    """POST results/ in chunks: [{"case_key", "attempt", "output", "trace_id"?}]."""
    for i in range(0, len(results), RESULTS_PER_REQUEST):
        client.post(f"{run_id}/results/", results[i : i + RESULTS_PER_REQUEST])


def score(client: Client, run_id: int, wait: float) -> dict[str, Any]:
    """POST score/ until the verdict (200); past `wait` seconds, once more with {"final": true}."""
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
