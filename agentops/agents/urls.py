"""Pages of agents: two bundles compared, and the verdicts of an agent's recent bundles.

Included before traces.urls: the agent dashboard's <text:agent> takes any text, slashes included, so
it would take "<agent>/compare" as an agent's name. A name holding a "/" is still reachable: reverse
encodes it (traces.converters), so its URL never has a bare "/compare/" after the name.
"""

from django.urls import path

from agentops.agents import views
from traces import converters  # noqa: F401  (registers the <text:...> converter)

_agent = "p/<slug:slug>/agents/<text:agent>"

urlpatterns = [
    path(f"{_agent}/compare/", views.bundle_compare, name="bundle_compare"),
    path(f"{_agent}/verdicts/", views.bundle_verdicts, name="bundle_verdicts"),
]
