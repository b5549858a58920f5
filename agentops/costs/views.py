"""GET /p/<slug>/costs/?month=YYYY-MM: the exact cost per customer and agent of one month (UTC), with
each customer's subtotal, the month's totals and a link to the same report as CSV (the API's
`?by=customer,agent&month=...&format=csv`, which the session authenticates).

Anyone who may view the project (costs are metrics, no payloads). The page lists at most MAX_ROWS
customer-agent pairs, in the order of customer then agent, and says when there are more; the totals
and the CSV hold them all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from agentops.costs import selectors
from agentops.costs.query import CostQuery, CostQueryError, month_bounds, parse_month
from agentops.pages import project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

MAX_ROWS = 500
BY = ("customer", "agent")


def _subtotal(customer: str, pairs: list[selectors.CostRow]) -> selectors.CostRow:
    return selectors.CostRow(
        group={"customer": customer},
        runs=sum(r.runs for r in pairs),
        input_tokens=sum(r.input_tokens for r in pairs),
        output_tokens=sum(r.output_tokens for r in pairs),
        cost_usd=sum((r.cost_usd for r in pairs), start=Decimal(0)),
    )


def _table(rows: list[selectors.CostRow]) -> list[dict[str, Any]]:
    """Rows in customer order, each customer's first row marked, and a subtotal after a customer with
    more than one agent."""
    table: list[dict[str, Any]] = []
    pairs: list[selectors.CostRow] = []
    for i, row in enumerate(rows):
        customer = row.group["customer"]
        pairs.append(row)
        table.append({"kind": "row", "row": row, "first": len(pairs) == 1})
        if i == len(rows) - 1 or rows[i + 1].group["customer"] != customer:
            if len(pairs) > 1:
                table.append({"kind": "subtotal", "row": _subtotal(customer, pairs)})
            pairs = []
    return table


@project_view(Perm.VIEW_PROJECT)
def costs_page(request: HttpRequest, project: Project) -> HttpResponse:
    now = timezone.now()
    raw = (request.GET.get("month") or "").strip()
    error, status = None, 200
    try:
        start, end = parse_month(raw) if raw else month_bounds(now.date())
    except CostQueryError as exc:
        error, status = exc.message, 400
        start, end = month_bounds(now.date())
    query = CostQuery(by=BY, start=start, end=end)
    rows = list(selectors.cost_rows(project, query, limit=MAX_ROWS + 1, by_group=True))
    month = f"{start:%Y-%m}"
    api = reverse("api_costs", kwargs={"slug": project.slug})
    context = {
        "tab": "costs",
        "month": month,
        "error": error,
        "table": _table(rows[:MAX_ROWS]),
        "truncated": len(rows) > MAX_ROWS,
        "max_rows": MAX_ROWS,
        "totals": selectors.cost_totals(project, query),
        "csv_url": f"{api}?{urlencode({'by': ','.join(BY), 'month': month, 'format': 'csv'})}",
    }
    return render_project(request, project, "costs/costs.html", context, status=status)
