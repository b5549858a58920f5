"""Browser tests: Playwright driving Debian's chromium (/usr/bin/chromium, headless) against a live server.

`logged_in_page(user)` gives a page with that user's session cookie; every page's console errors,
failed requests and Content-Security-Policy violations are collected and fail the test at teardown. Screenshots go to artifacts/screenshots/
(`screenshot(page, name)`), kept as CI artifacts. A test here is skipped only when chromium is absent
(.ci/run installs it, so CI always runs them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

# Playwright's sync API runs an event loop in the test's thread; Django then refuses ORM calls there
# (they would be unsafe in real async code). These tests are synchronous: allow it, here only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("AGENTOPS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# As the machine's notes say: without these, chromium tries Google's hosts at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _session_cookie(user: Any) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    assert session.session_key is not None
    return session.session_key


@pytest.fixture
def logged_in_page(browser: Any, live_server: Any) -> Iterator[Callable[[Any], Any]]:
    """A factory: logged_in_page(user) -> a Playwright page logged in as `user` on the live server."""
    contexts: list[Any] = []
    pages: list[Any] = []
    problems: list[str] = []

    def make(user: Any) -> Any:
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": _session_cookie(user), "url": live_server.url}]
        )
        page = context.new_page()
        page.on(
            "console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        )
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        # Every asset must be served locally: a request to any other host is a failure.
        page.on(
            "request",
            lambda request: (
                problems.append(f"external request: {request.url}")
                if not request.url.startswith((live_server.url, "data:", "blob:", "about:"))
                else None
            ),
        )
        # Every Content-Security-Policy violation (agentops.headers), whatever the console says of it.
        page.add_init_script(
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        pages.append(page)
        contexts.append(context)
        return page

    yield make
    for page in pages:
        if not page.is_closed():
            problems.extend(f"CSP violation: {v}" for v in page.evaluate("window.__cspViolations || []"))
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
