"""A database that cannot take a batch in time answers 503 with Retry-After, and loses nothing: here a
real lock held by another connection (as a migration or a long report would) on the runs table."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client, override_settings

from tests.otlp import AgentTrace, protobuf
from tests.traces.conftest import PROTOBUF, IngestSetup
from traces.models import Run, Step

pytestmark = pytest.mark.django_db


def post(client: Client, body: bytes, key: str) -> Any:
    return client.post("/v1/traces", body, content_type=PROTOBUF, HTTP_AUTHORIZATION=f"Bearer {key}")


@override_settings(INGEST_LOCK_TIMEOUT_MS=200, INGEST_RETRY_AFTER_SECONDS=7)
def test_a_lock_not_granted_in_time_is_a_503_and_the_retry_stores_the_batch_once(
    client: Client, ingest: IngestSetup
) -> None:
    trace = AgentTrace()
    body = protobuf(trace.built())
    holder = psycopg.connect(**connection.get_connection_params())
    try:
        holder.execute("LOCK TABLE traces_run IN ACCESS EXCLUSIVE MODE")
        refused = post(client, body, ingest.key)
        assert refused.status_code == 503
        assert refused["Retry-After"] == "7"
        assert not Step.objects.filter(project=ingest.project).exists()
    finally:
        holder.rollback()
        holder.close()

    accepted = post(client, body, ingest.key)
    assert accepted.status_code == 200
    assert Step.objects.filter(project=ingest.project).count() == len(trace.spans)
    assert Run.objects.get(project=ingest.project).step_count == len(trace.spans)
