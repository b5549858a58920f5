"""The browser harness itself: chromium drives a page of the live server, logged in, with local assets."""

import pytest

from agentops.tenancy.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import make_member, make_project

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_logged_in_user_sees_their_project(logged_in_page):
    project = make_project(name="Browser project")
    user = make_member(project, Role.VIEWER)
    page = logged_in_page(user)
    page.goto("/")
    assert page.get_by_text("Browser project").is_visible()
    assert screenshot(page, "home").exists()
    # The project's link opens its runs, where an engineer starts, not the overview.
    page.get_by_role("link", name="Browser project").click()
    page.wait_for_url(f"**/p/{project.slug}/runs/")
