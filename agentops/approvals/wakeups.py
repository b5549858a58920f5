"""Wake the agents long-polling a request (agentops.server.park) when its answer changes.

NOTIFY runs in the caller's transaction: PostgreSQL delivers it at commit, so a woken waiter always
sees the change, and a rolled-back change wakes nobody.
"""

from __future__ import annotations

from django.db import connection

from agentops.server.park import CHANNEL


def wake_waiters(approval_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, f"approval:{approval_id}"])
