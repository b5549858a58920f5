"""Model and tool filters pick their strategy by how many runs match (traces.filters._narrowed): the
results must be the same whichever is taken."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from agentops.tenancy.models import Project
from tests.factories import make_project, make_run
from tests.otlp import AgentTrace
from traces import filters
from traces.filters import page, parse_filters
from traces.selectors import project_runs

pytestmark = pytest.mark.django_db


def listed(project: Project, query: str) -> list[str]:
    runs, _ = page(parse_filters(QueryDict(query)).apply(project_runs(project)), None, 50)
    return [r.trace_id.hex for r in runs]


@pytest.mark.parametrize(
    "query", ["model=gpt-4o", "tool=lookup_order", "model=gpt-4o&tool=lookup_order", "model=absent", "tool=absent"]
)
def test_few_and_many_matches_list_the_same_runs(monkeypatch: pytest.MonkeyPatch, query: str) -> None:
    project = make_project()
    for _ in range(5):
        make_run(project, AgentTrace())
    few = listed(project, query)  # 5 runs at most: under RARE_MATCHES, picked among the ids found
    monkeypatch.setattr(filters, "RARE_MATCHES", 1)  # now "many": the newest-runs walk
    many = listed(project, query)
    assert few == many
    assert len(few) == (0 if "absent" in query else 5)
