"""GET /api/docs/: Swagger UI for the REST API, served from the drf-spectacular sidecar (offline).

Public, as is /api/schema/: both describe the API's shape (paths, fields, authentication), nothing of
any organization or project, which every endpoint they describe keeps behind its own permissions.

The split view serves Swagger UI's start-up code as a script file (?script), not inline: pages run no
inline script (agentops.headers). Any method but GET and HEAD is answered here in plain text: DRF would
render its error through the page's HTML template renderer, which has no template for it (a 500).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.views import SpectacularSwaggerSplitView

ALLOWED = "GET, HEAD, OPTIONS"


class ApiDocs(SpectacularSwaggerSplitView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.method == "OPTIONS":
            return HttpResponse(status=200, headers={"Allow": ALLOWED})
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(
                f"{request.method} is not allowed here",
                status=405,
                content_type="text/plain",
                headers={"Allow": ALLOWED},
            )
        return super().dispatch(request, *args, **kwargs)
