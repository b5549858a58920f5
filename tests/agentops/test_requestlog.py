"""Request ids: echoed when safe, replaced when not, and on every log line written during the request."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from agentops.requestlog import JsonFormatter, RequestIdFilter, request_id_var

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What agentops.health logs, through the same filter and formatter as the console handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("agentops.health")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def failing_readyz(client: Client, **headers: str) -> str:
    # An unreachable broker makes /readyz log a warning: a log line written while a request is served.
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_BROKER_TRANSPORT_OPTIONS={}):
        response = client.get("/readyz", headers=headers)
    assert response.status_code == 503
    return str(response["X-Request-ID"])


def test_the_console_handler_uses_the_request_id_filter_and_json() -> None:
    config: dict[str, Any] = settings.LOGGING
    assert config["handlers"]["console"]["filters"] == ["request_id"]
    assert config["handlers"]["console"]["formatter"] == "json"
    assert config["filters"]["request_id"]["()"] == "agentops.requestlog.RequestIdFilter"
    assert config["formatters"]["json"]["()"] == "agentops.requestlog.JsonFormatter"


@pytest.mark.django_db
def test_a_safe_request_id_is_echoed_and_logged(client: Client, logged: io.StringIO) -> None:
    echoed = failing_readyz(client, X_Request_ID="trace-42.abc_DEF")

    assert echoed == "trace-42.abc_DEF"
    lines = records(logged)
    assert lines, "nothing was logged"
    assert all(line["request_id"] == "trace-42.abc_DEF" for line in lines)
    assert lines[0]["event"] == "readyz.failed"
    assert lines[0]["level"] == "WARNING"
    assert "broker" in lines[0]["failures"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "unsafe",
    ['x", "level": "CRITICAL', "a" * 65, "spaces are not allowed", "naïve"],
)
def test_an_unsafe_request_id_is_replaced(client: Client, logged: io.StringIO, unsafe: str) -> None:
    echoed = failing_readyz(client, X_Request_ID=unsafe)

    assert echoed != unsafe
    assert GENERATED.match(echoed)
    assert records(logged)[0]["request_id"] == echoed


def test_a_request_without_an_id_gets_a_fresh_one_each_time(client: Client) -> None:
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert GENERATED.match(first)
    assert GENERATED.match(second)
    assert first != second


def test_lines_logged_outside_a_request_carry_no_id() -> None:
    record = logging.LogRecord("agentops.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    RequestIdFilter().filter(record)
    payload = json.loads(JsonFormatter().format(record))

    assert request_id_var.get() is None
    assert "request_id" not in payload
    assert payload["message"] == "hello world"
