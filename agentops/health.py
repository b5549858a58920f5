"""Health endpoints for load balancers and orchestrators.

/healthz: the process is alive and serving (no dependency is touched).
/readyz: the database and the broker answer; 503 naming each failing dependency otherwise.
"""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def _check_broker() -> str | None:
    from agentops.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    failures = {name: err for name, err in (("database", _check_database()), ("broker", _check_broker())) if err}
    if failures:
        log.warning("readiness check failed", extra={"event": "readyz.failed", "failures": failures})
        return JsonResponse({"status": "unavailable", "failing": failures}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "broker": "ok"})
