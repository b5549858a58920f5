"""Webhook signatures, Stripe-style: `X-Agentops-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The HMAC is over the bytes `"<t>." + body` with the channel's secret. `verify` is the reference
receiver check, meant to be copied into receivers (the README shows it): it needs only the standard
library. The timestamp bounds replay of a captured request; X-Agentops-Delivery lets a receiver drop
a message it has already handled (a retry after a lost answer).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Agentops-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body`, signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """True when `header` signs `body` with `secret` and was made within `tolerance` seconds of now.

    Any v1 signature in the header may match (a sender may list several while rotating secrets).
    """
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures or abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)
