"""The API docs page (Swagger UI from the drf-spectacular sidecar) draws in chromium under the pages'
Content-Security-Policy: its start-up code is a script file, so nothing is refused (the harness fails the
test on any violation or console error)."""

from __future__ import annotations

import pytest

from tests.factories import make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_draws_the_api(logged_in_page):
    page = logged_in_page(make_user())
    page.goto("/api/docs/")
    page.locator(".opblock-tag").first.wait_for(timeout=15_000)
    assert page.locator(".opblock").count() > 0
