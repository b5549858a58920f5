"""Security headers on every answer the app itself makes (whitenoise serves static files before this
middleware sees them).

- Content-Security-Policy: scripts only from this origin (the pages' own files and the vendored plotly
  and htmx; no inline script, no eval), nothing framed, no plugins, no <base> rewriting, forms and
  fetches to this origin only. Styles may be inline: plotly draws with inline styles, and a tree row
  carries its depth as one; what a style can do is bounded by the rest of the policy, and every text
  that comes from data is escaped (traces.plotly_text for charts).
- Cache-Control: no-store on pages and API answers, which carry inputs, outputs and tool arguments:
  neither a shared proxy nor the browser's history cache may keep a copy once the user logs out.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response
