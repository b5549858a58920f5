"""htmx and logins: a background htmx request (the run list's poller, a row action) whose session has
expired gets an HX-Redirect to the login page instead of the login page's HTML swapped into a table."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url


class HtmxLoginRedirectMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.headers.get("HX-Request") != "true" or response.status_code != 302:
            return response
        login = resolve_url(settings.LOGIN_URL)
        if not response["Location"].startswith(login):
            return response
        # The whole page goes to the login page, which returns the user here afterwards.
        redirect = HttpResponse(status=204)
        redirect["HX-Redirect"] = f"{login}?{urlencode({'next': request.headers.get('HX-Current-URL', '/')})}"
        return redirect
