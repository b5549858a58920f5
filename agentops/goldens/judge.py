"""The LLM judge: an `llm_judge` assertion scored by an OpenAI-compatible chat endpoint of the project.

`judge_for(project)` is the judge of the project's `JudgeSettings`, or None when it has none (the
assertion is then skipped, never passed). The judge POSTs `{base_url}/chat/completions` with the rubric,
the case's input and expected output and the agent's output, asking for `{"pass": true|false,
"reason": "..."}` as the answer's content, with the project's timeout. Any failure (refused, timed out,
non-2xx, an answer that is not that JSON) is an "error" outcome naming it, never a pass.

The endpoint is chosen by the project's people, and the server calls it: its address is checked as a
notification webhook's is (agentops.notify.senders.refused_address: never link-local such as a cloud
metadata service; private and loopback only with NOTIFY_ALLOW_PRIVATE_URLS, as for self-hosted models),
the connection goes to the address checked, and redirects are not followed.
"""

from __future__ import annotations

import json
import re
import socket
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from agentops.goldens.models import JudgeSettings
from agentops.goldens.scorers import Judge, Outcome, Status, failed, passed
from agentops.notify.senders import refused_address
from agentops.tenancy.models import Project

MAX_ANSWER_BYTES = 1_000_000
MAX_PAYLOAD_CHARS = 20_000  # of each of input, expected output and output sent to the judge

SYSTEM_PROMPT = (
    "You grade the output of an AI agent against a rubric. Answer with one JSON object and nothing else: "
    '{"pass": true or false, "reason": "one sentence"}.'
)


class JudgeFailed(Exception):
    pass


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_PAYLOAD_CHARS else text[:MAX_PAYLOAD_CHARS] + " [truncated]"


def messages(rubric: str, case_input: Any, expected: Any, output: Any) -> list[dict[str, str]]:
    parts = [f"Rubric:\n{rubric}", f"Input given to the agent:\n{_shown(case_input)}"]
    if expected is not None:
        parts.append(f"Expected output:\n{_shown(expected)}")
    parts.append(f"Agent output:\n{_shown(output)}")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


def _address(host: str, port: int) -> str:
    addresses = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for address in addresses:
        reason = refused_address(str(address), allow_private=settings.NOTIFY_ALLOW_PRIVATE_URLS)
        if reason:
            raise JudgeFailed(f"{host}: {reason}")
    return str(addresses[0])


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JudgeFailed("the judge's base URL is not an http(s) URL")
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = _address(parts.hostname, port)
    connection = (HTTPSConnection if https else HTTPConnection)(parts.hostname, port, timeout=timeout)
    connection._create_connection = lambda _a, *args: socket.create_connection((address, port), *args)  # type: ignore[attr-defined]
    try:
        connection.request("POST", parts.path or "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(MAX_ANSWER_BYTES)
    finally:
        connection.close()


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def verdict(content: str) -> Outcome:
    """The judge's answer (the message content) as an outcome."""
    try:
        answer = json.loads(_FENCE.sub("", content.strip()))
    except ValueError:
        raise JudgeFailed("the judge did not answer with JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("pass"), bool):
        raise JudgeFailed('the judge\'s answer has no boolean "pass"')
    reason = answer.get("reason")
    reason = reason[:500] if isinstance(reason, str) else ""
    return passed(reason) if answer["pass"] else failed(f"judge: {reason}" if reason else "judge: fail")


def http_judge(config: JudgeSettings) -> Judge:
    url = config.base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "User-Agent": "agentops-judge/1"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"

    def judge(rubric: str, case_input: Any, expected: Any, output: Any) -> Outcome:
        body = {"model": config.model, "temperature": 0, "messages": messages(rubric, case_input, expected, output)}
        try:
            status, raw = _post(url, json.dumps(body).encode(), headers, config.timeout_seconds)
            if not 200 <= status < 300:
                raise JudgeFailed(f"the judge answered HTTP {status}")
            try:
                content = json.loads(raw)["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                raise JudgeFailed("the judge's answer is not a chat completion") from None
            if not isinstance(content, str):
                raise JudgeFailed("the judge's answer has no text content")
            return verdict(content)
        except JudgeFailed as exc:
            return Outcome(Status.ERROR, str(exc))
        except (OSError, ValueError) as exc:  # refused, reset, timed out, TLS, a bad port
            return Outcome(Status.ERROR, f"the judge could not be reached: {type(exc).__name__}: {exc}"[:300])

    return judge


def judge_for(project: Project) -> Judge | None:
    config = JudgeSettings.objects.filter(project=project).first()
    return http_judge(config) if config else None
