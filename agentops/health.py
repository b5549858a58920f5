"""Health endpoints for load balancers and orchestrators.

/healthz: the process is alive and serving (no dependency is touched).
/readyz: the database and the broker answer; 503 naming each failing dependency otherwise.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
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
    # Built from the settings at each call (not the Celery app's cached configuration), so that the
    # check tests exactly what the settings say.
    from kombu import Connection

    # kombu's filesystem transport "connects" to anything; what it needs is its queue folder.
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    if folder and not os.access(folder, os.W_OK):
        return f"queue folder {folder} is missing or not writable"
    conn = Connection(
        settings.CELERY_BROKER_URL,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        connect_timeout=3,
    )
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    finally:
        conn.release()
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
