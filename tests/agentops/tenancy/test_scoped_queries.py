"""Views get project-scoped rows through selectors that start from the resolved project, never from a
model's manager: `Run.objects.get(pk=...)` in a view would find another tenant's run.

Read from the source of every view module (views.py, views/*.py, api.py, pages.py), so a new view or a
new app is covered without being listed. Project-scoped models are found, not listed: Project itself
and every model with a foreign key to it. The way around is a comment on the line naming
`dangerously_unscoped` and why.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps

from agentops.tenancy.models import Project

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("agentops", "traces")
MANAGERS = {"objects", "_default_manager", "_base_manager"}
SHORTCUTS = {"get_object_or_404", "get_list_or_404"}
ESCAPE = "dangerously_unscoped"


def _scoped_models() -> set[str]:
    names = {Project.__name__}
    for model in apps.get_models():
        if any(f.many_to_one and f.related_model is Project for f in model._meta.get_fields()):
            names.add(model.__name__)
    return names


def _view_modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name in {"views.py", "api.py", "pages.py"} or path.parent.name == "views":
                found.append(path)
    return sorted(found)


def unscoped_queries(source: str, models: set[str]) -> list[tuple[int, str]]:
    """(line, what) of each query that starts from a project-scoped model's manager."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        what = None
        if isinstance(node, ast.Attribute) and node.attr in MANAGERS:
            if isinstance(node.value, ast.Name) and node.value.id in models:
                what = f"{node.value.id}.{node.attr}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SHORTCUTS:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Name) and first.id in models:
                what = f"{node.func.id}({first.id}, ...)"
        if what and isinstance(node, ast.expr) and ESCAPE not in lines[node.lineno - 1]:
            found.append((node.lineno, what))
    return sorted(found)


def test_the_scan_knows_the_project_scoped_models():
    assert {"Project", "Membership", "IngestKey", "AuditEvent", "Run", "Step", "LogRecord", "PriceOverride"} <= (
        _scoped_models()
    )
    modules = {p.relative_to(ROOT).as_posix() for p in _view_modules()}
    assert {"agentops/pages.py", "agentops/tenancy/views.py", "traces/api.py", "traces/views/replay.py"} <= modules


def test_no_view_queries_a_project_scoped_model_from_its_manager():
    models = _scoped_models()
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _view_modules()
        for line, what in unscoped_queries(path.read_text(), models)
    ]
    assert not found, "use a selector scoped to the resolved project:\n" + "\n".join(found)


def test_the_scan_catches_each_shape_and_honours_the_named_escape():
    source = """
key = get_object_or_404(IngestKey, pk=key_id)
runs = Run.objects.filter(trace_id=t)
project = Project._default_manager.get(slug=slug)
fine = get_object_or_404(selectors.project_ingest_keys(project), pk=key_id)
tokens = ApiToken.objects.filter(user=user)
audited = AuditEvent.objects.count()  # dangerously_unscoped: a count across tenants for /metrics
"""
    assert unscoped_queries(source, {"IngestKey", "Run", "Project", "AuditEvent"}) == [
        (2, "get_object_or_404(IngestKey, ...)"),
        (3, "Run.objects"),
        (4, "Project._default_manager"),
    ]
