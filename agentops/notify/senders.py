"""How a message goes out on each kind of channel: one function per kind, each returning an Outcome.

Nothing here touches the database or raises for a receiver's failure: a refused connection, a timeout,
a non-2xx answer or a mail server's error is an Outcome with ok=False and the reason in words. Every
value in a payload is hostile: Slack text is escaped for mrkdwn, an e-mail subject loses its line
breaks, links are kept only when they are http(s).
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from django.core.mail import send_mail

from agentops.notify import signing
from agentops.notify.models import Channel, OutboxMessage

TIMEOUT_SECONDS = 10.0
USER_AGENT = "agentops-notify/1"
ERROR_CHARS = 500
_SLACK_TEXT_CHARS = 2900  # Slack refuses a section text over 3000 characters


@dataclass(frozen=True)
class Outcome:
    ok: bool
    duration_ms: int
    status_code: int | None = None
    error: str = ""


def body_of(message: OutboxMessage) -> dict[str, Any]:
    """The webhook body: the payload, with the envelope's keys on top (a payload cannot forge them)."""
    return {
        **message.payload,
        "event": message.event,
        "delivery": str(message.pk),
        "project": message.project.slug,
        "created_at": message.created_at.isoformat(),
    }


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def safe_link(value: Any) -> str:
    """`value` when it is an http(s) URL, else "" (a javascript: or mailto: link is never sent on)."""
    if not isinstance(value, str) or len(value) > 2000:
        return ""
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else ""


def _truncate(text: str, limit: int = ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def post_json(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST `body` to `url`; the status and the start of the answer. Redirects are not followed:
    http.client does not, and a 3xx is then not a 2xx."""
    parts = urlsplit(url)
    connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=TIMEOUT_SECONDS)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(300).decode("utf-8", "replace")
        return response.status, f"{response.reason} {answer}".strip()
    finally:
        connection.close()


def _http(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    started = time.monotonic()
    try:
        status, answer = post_json(url, body, headers)
    except (OSError, ValueError) as exc:  # refused, reset, timed out, TLS, a bad port in the URL
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(ok=False, duration_ms=elapsed, error=_truncate(f"{type(exc).__name__}: {exc}"))
    elapsed = int((time.monotonic() - started) * 1000)
    if 200 <= status < 300:
        return Outcome(ok=True, duration_ms=elapsed, status_code=status)
    return Outcome(ok=False, duration_ms=elapsed, status_code=status, error=_truncate(f"HTTP {status} {answer}"))


def send_webhook(channel: Channel, message: OutboxMessage) -> Outcome:
    body = encode(body_of(message))
    headers = {
        signing.HEADER: signing.sign(channel.secret, body),
        "X-Agentops-Event": message.event,
        "X-Agentops-Delivery": str(message.pk),
    }
    return _http(channel.url, body, headers)


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped as Slack documents: &, < and > only."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary(message: OutboxMessage) -> str:
    summary = message.payload.get("summary")
    return str(summary) if summary not in (None, "") else f"{message.event} notification"


def slack_body(message: OutboxMessage) -> dict[str, Any]:
    """An incoming-webhook message: `text` for notifications and old clients, `blocks` for the layout."""
    title = f"[{message.project.name}] {message.event}: {_summary(message)}"
    text = _truncate(slack_escape(title), _SLACK_TEXT_CHARS)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    link = safe_link(message.payload.get("url"))
    if link:
        # Inside <url|label>, a "|" would end the URL early: it is percent-encoded like any URL byte.
        target = slack_escape(quote(link, safe=":/?#[]@!$&'()*+,;=%~-._"))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{target}|Open in agentops>"}]})
    return {"text": text, "blocks": blocks}


def send_slack(channel: Channel, message: OutboxMessage) -> Outcome:
    return _http(channel.url, encode(slack_body(message)), {})


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def email_content(message: OutboxMessage) -> tuple[str, str]:
    """Subject and plain-text body. The subject is one line: a line break in a header is an injection."""
    summary = _summary(message)
    subject = _truncate(_CONTROL.sub(" ", f"[agentops] {message.project.name}: {summary}"), 200)
    lines = [summary, ""]
    link = safe_link(message.payload.get("url"))
    if link:
        lines += [link, ""]
    lines += [f"Event: {message.event}", "", json.dumps(body_of(message), indent=2, ensure_ascii=False, default=str)]
    return subject, "\n".join(lines)


def send_email(channel: Channel, message: OutboxMessage) -> Outcome:
    subject, text = email_content(message)
    started = time.monotonic()
    try:
        send_mail(subject, text, None, list(channel.recipients), fail_silently=False)
    except Exception as exc:  # smtplib, socket and backend errors alike: the attempt failed, say why
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(ok=False, duration_ms=elapsed, error=_truncate(f"{type(exc).__name__}: {exc}"))
    return Outcome(ok=True, duration_ms=int((time.monotonic() - started) * 1000))


SENDERS = {
    Channel.Kind.WEBHOOK: send_webhook,
    Channel.Kind.SLACK: send_slack,
    Channel.Kind.EMAIL: send_email,
}


def send(channel: Channel, message: OutboxMessage) -> Outcome:
    return SENDERS[Channel.Kind(channel.kind)](channel, message)
