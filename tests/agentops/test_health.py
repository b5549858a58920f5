"""/healthz and /readyz: alive, and ready only when the database and the broker answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from tests.agentops.conftest import agentops_env, free_port, run_agentops


def queue_in(folder: Path) -> dict[str, Any]:
    return {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}


def test_healthz_answers_without_touching_dependencies(client: Client) -> None:
    # No database access is allowed in this test (no `db` fixture): pytest-django would fail the query.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ok_with_the_database_and_the_filesystem_queue(client: Client, tmp_path: Path) -> None:
    with override_settings(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_TRANSPORT_OPTIONS=queue_in(tmp_path)):
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker(client: Client) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with override_settings(CELERY_BROKER_URL=closed, CELERY_BROKER_TRANSPORT_OPTIONS={}):
        response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert list(body["failing"]) == ["broker"]
    assert "refused" in body["failing"]["broker"].lower()


@pytest.mark.django_db
def test_readyz_names_a_missing_queue_folder(client: Client, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with override_settings(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_TRANSPORT_OPTIONS=queue_in(missing)):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == {"broker": f"queue folder {missing} is missing or not writable"}


def test_readyz_names_an_unreachable_database(tmp_path: Path) -> None:
    # A process of its own: its settings point at a closed port (this process' connections stay intact).
    script = (
        "from django.test import Client\n"
        "from agentops.celery import ensure_broker_folders\n"
        "ensure_broker_folders()\n"
        "r = Client().get('/readyz')\n"
        "print('STATUS', r.status_code)\n"
        "print('FAILING', *sorted(r.json()['failing']))\n"
    )
    env = agentops_env(tmp_path / "home", DATABASE_URL=f"postgres://agentops@127.0.0.1:{free_port()}/agentops")

    result = run_agentops("shell", "-c", script, env=env)

    assert result.returncode == 0, result.stderr
    assert "STATUS 503" in result.stdout
    assert "FAILING database\n" in result.stdout
    # The failure is logged as a structured event.
    assert '"event": "readyz.failed"' in result.stderr
