"""GET /api/v1/projects/<slug>/costs/?by=customer|agent|bundle&from=...&to=...&format=json|csv

Exact runs, input and output tokens and cost per group over a period, summed from the runs
(agentops.costs.selectors), never from the rollups. `by` may name several groups (`customer,agent`);
`month=YYYY-MM` stands for from and to (agentops.costs.query). JSON: {"by": [...], "from", "to",
"results": [{<group>: value, "runs", "input_tokens", "output_tokens", "cost_usd"}, ...] (the costliest
first), "totals": {...}}. CSV: one line per group, streamed, formula-guarded (agentops.costs.export).

Anyone who may view the project may read its costs: they are metrics, like the dashboards', and show
no payloads. A bad parameter is 400 {"field", "detail"}.
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.costs import export, selectors
from agentops.costs.query import FORMATS, GROUPS, CostQueryError, cost_query
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm


class CostReport(ProjectAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # `?format=` is this endpoint's own parameter, not DRF's renderer override: errors render as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("by", OpenApiTypes.STR, description=f"one or more of {', '.join(GROUPS)}"),
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="runs started at or after (ISO 8601)"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="runs started before (ISO 8601)"),
            OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM (UTC), instead of from and to"),
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS)),
        ],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR},
        summary="Exact cost per customer, agent or bundle",
    )
    def get(self, request: Request, slug: str) -> Response | StreamingHttpResponse:
        try:
            query = cost_query(request.query_params, timezone.now())
        except CostQueryError as error:
            return Response({"field": error.field, "detail": error.message}, status=400)
        if query.format == "csv":
            rows = selectors.cost_rows(self.project, query)
            response = StreamingHttpResponse(export.csv_lines(query, rows), content_type="text/csv")
            name = f"costs-{self.project.slug}-{'-'.join(query.by)}-{query.start:%Y%m%d}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            response["Cache-Control"] = "no-store"
            return response
        return Response(
            {
                "by": list(query.by),
                "from": query.start.isoformat(),
                "to": query.end.isoformat(),
                "results": [export.row_dict(r) for r in selectors.cost_rows(self.project, query)],
                "totals": export.row_dict(selectors.cost_totals(self.project, query)),
            }
        )
