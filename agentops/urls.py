from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from agentops import health
from agentops.api_docs import ApiDocs
from traces import otlp, otlp_signals

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("v1/traces", otlp.export_traces, name="otlp_traces"),
    path("v1/logs", otlp_signals.export_logs, name="otlp_logs"),
    path("v1/metrics", otlp_signals.export_metrics, name="otlp_metrics"),
    # Any other path under /v1/ (a signal agentops does not take, a typo): an OTLP 404, not an HTML page.
    re_path(r"^v1/", otlp_signals.unknown_signal, name="otlp_unknown"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("agentops.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", ApiDocs.as_view(url_name="api_schema"), name="api_docs"),
    path("", include("agentops.tenancy.urls")),
    path("", include("agentops.notify.urls")),
    path("", include("agentops.alerts.urls")),
    path("", include("agentops.approvals.history_urls")),
    path("", include("agentops.approvals.page_urls")),
    path("", include("agentops.goldens.page_urls")),
    path("", include("agentops.goldens.rules_urls")),
    path("", include("agentops.goldens.eval_page_urls")),
    path("", include("agentops.budgets.page_urls")),
    path("", include("agentops.costs.page_urls")),
    path("", include("agentops.retention.urls")),
    # Before traces.urls: see agentops/agents/urls.py.
    path("", include("agentops.agents.urls")),
    path("", include("traces.urls")),
]
