"""How a message goes out on each kind of channel: one function per kind, each returning an Outcome.

Nothing here touches the database or raises for a receiver's failure: a refused connection, a timeout,
a non-2xx answer or a mail server's error is an Outcome with ok=False and the reason in words. Every
value in a payload is hostile: Slack text is escaped for mrkdwn, an e-mail subject loses its line
breaks, links are kept only when they are http(s).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import socket
import time
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
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


class DestinationRefused(ValueError):
    """The URL's host is an address notifications may not reach."""


def refused_address(address: str, *, allow_private: bool) -> str:
    """Why agentops will not POST to `address` ("" when it may).

    A channel's URL is chosen by a project's Engineer, and the answer's first bytes are shown back as
    the channel's last error: without this, a channel could read the cloud metadata service or an
    internal admin endpoint from inside the network agentops runs in.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return f"{ip} is a link-local, multicast or unspecified address"
    if ip.is_private or ip.is_loopback:  # before is_reserved: ::1 is both loopback and reserved
        return (
            "" if allow_private else f"{ip} is a private or loopback address (NOTIFY_ALLOW_PRIVATE_URLS=true allows it)"
        )
    if ip.is_reserved:
        return f"{ip} is a reserved address"
    return ""


def _resolve(host: str, port: int) -> str:
    """The address to connect to, checked; every address the name has must pass (no rebinding)."""
    allow_private = settings.NOTIFY_ALLOW_PRIVATE_URLS
    addresses = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for address in addresses:
        reason = refused_address(str(address), allow_private=allow_private)
        if reason:
            raise DestinationRefused(f"{host}: {reason}")
    return str(addresses[0])


def post_json(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST `body` to `url`; the status and the start of the answer. Redirects are not followed:
    http.client does not, and a 3xx is then not a 2xx. The host is resolved and checked once, and the
    connection goes to that very address (TLS still checks the certificate against the host name)."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = _resolve(parts.hostname or "", port)
    connection_class = HTTPSConnection if https else HTTPConnection
    connection = connection_class(parts.hostname or "", port, timeout=TIMEOUT_SECONDS)
    connection._create_connection = lambda _address, *args: socket.create_connection((address, port), *args)  # type: ignore[attr-defined]
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


def send_callback(channel: Channel, message: OutboxMessage) -> Outcome:
    """An approval's decision, POSTed to the callback_url of its request (see services.enqueue_callback):
    the body is the request as its agent's GET shows it, signed like a webhook."""
    # Imported here: approvals imports notify, not the other way round at import time.
    from agentops.approvals.policy import callback_secret

    url = safe_link(message.payload.get("callback_url"))
    if not url:
        return Outcome(ok=False, duration_ms=0, error="the message has no http(s) callback URL")
    body = encode(message.payload.get("body") or {})
    headers = {
        signing.HEADER: signing.sign(callback_secret(message.project), body),
        "X-Agentops-Event": message.event,
        "X-Agentops-Delivery": str(message.pk),
    }
    return _http(url, body, headers)


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
    Channel.Kind.CALLBACK: send_callback,
}


def send(channel: Channel, message: OutboxMessage) -> Outcome:
    return SENDERS[Channel.Kind(channel.kind)](channel, message)
