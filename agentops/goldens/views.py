"""The golden set pages.

GET  /p/<slug>/golden-sets/                                  the sets: name, description, current version,
                                                             case count, updated; a create form
POST /p/<slug>/golden-sets/                                  name, description: creates a set
GET  /p/<slug>/golden-sets/<name>/?version=N                 the cases of the current version (or of N, read
                                                             only), the versions and what each changed
GET  /p/<slug>/golden-sets/<name>/cases/<key>/edit/          the edit form of a current case
POST /p/<slug>/golden-sets/<name>/cases/<key>/edit/          expected_output (+ expected_format=text),
                                                             assertions (a JSON list), tags (commas), notes
POST /p/<slug>/golden-sets/<name>/cases/<key>/remove/        removes the case from the next version
POST /p/<slug>/golden-sets/<name>/import/                    file: JSON lines (agentops.goldens.jsonl)

Every write goes through agentops.goldens.services, each change of cases making a new version. What a
service refuses is shown beside its field with the API's status (400, or 409 for a name taken), and
nothing is stored.

Who may: the tenancy chokepoint (`project_view`) answers 404 to outsiders; everyone in the project reads
sets and cases as the API shows them (without the payload permission: keys, tags, sources, people and
assertion types, no input, expected output, notes or assertion parameters); writes need "manage golden
sets" (Engineer and above), anyone else's POST is 404. A set of another project is 404 like a missing one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from agentops.goldens import forms, jsonl, selectors, services
from agentops.goldens.models import GoldenSet
from agentops.goldens.page_nav import GOLDENS_TAB
from agentops.goldens.page_presenters import case_row, version_row
from agentops.goldens.validation import GoldenConflict, GoldenError
from agentops.pages import project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

MAX_CASES_SHOWN = 500
MAX_VERSIONS_SHOWN = 100
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def _status(exc: GoldenError) -> int:
    return 409 if isinstance(exc, GoldenConflict) else 400


def _golden_set(project: Project, name: str) -> GoldenSet:
    found = selectors.project_set(project, name)
    if found is None:
        raise Http404("No such golden set in this project")
    return found


def _may(request: HttpRequest, project: Project, perm: Perm) -> bool:
    return perm in project_perms(request, project)


def set_url(golden_set: GoldenSet) -> str:
    return reverse("golden_set", kwargs={"slug": golden_set.project.slug, "set_name": golden_set.name})


@project_view(Perm.VIEW_PROJECT, methods=["GET", "POST"])
def golden_sets(request: HttpRequest, project: Project) -> HttpResponse:
    manage = _may(request, project, Perm.MANAGE_GOLDENS)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not manage:
            raise Http404("No such project")
        data = {"name": request.POST.get("name", "").strip(), "description": request.POST.get("description", "")}
        try:
            created = services.golden_set_create(project=project, user=request.user, data=data)
        except GoldenError as exc:
            errors, status = forms.errors_of(exc), _status(exc)
        else:
            messages.success(request, f"Created the golden set {created.name}.")
            return redirect(set_url(created))
    sets = selectors.project_sets(project).select_related("created_by")
    context = {"tab": "goldens", "sets": sets, "manage": manage, "errors": errors, "posted": request.POST}
    return render_project(request, project, "goldens/sets.html", GOLDENS_TAB | context, status=status)


def _version(request: HttpRequest, golden_set: GoldenSet) -> int:
    raw = request.GET.get("version", "")
    if not raw:
        return golden_set.version
    if not raw.isdigit() or len(raw) > 9 or int(raw) > golden_set.version:
        raise Http404(f"This set has versions 0 to {golden_set.version}")
    return int(raw)


def _set_page(
    request: HttpRequest,
    project: Project,
    golden_set: GoldenSet,
    *,
    import_error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    version = _version(request, golden_set)
    payloads = _may(request, project, Perm.VIEW_PAYLOADS)
    cases = list(selectors.cases_at(golden_set, version)[: MAX_CASES_SHOWN + 1])
    count = len(cases) if len(cases) <= MAX_CASES_SHOWN else selectors.case_count_at(golden_set, version)
    versions = [version_row(v) for v in selectors.set_versions(golden_set, MAX_VERSIONS_SHOWN)]
    shown = next((v for v in versions if v["number"] == version), None)
    if shown is None and version > 0:  # older than the versions listed
        found = selectors.set_version(golden_set, version)
        shown = version_row(found) if found else None
    slug = project.slug
    context: dict[str, Any] = {
        "tab": "goldens",
        "golden_set": golden_set,
        "version": version,
        "current": version == golden_set.version,
        "shown_version": shown,
        "versions": versions,
        "rows": [case_row(c, payloads=payloads, slug=slug) for c in cases[:MAX_CASES_SHOWN]],
        "case_count": count,
        "more_cases": count > MAX_CASES_SHOWN,
        "payloads": payloads,
        "manage": _may(request, project, Perm.MANAGE_GOLDENS),
        "export_url": reverse("api_golden_set_export", kwargs={"slug": slug, "set_name": golden_set.name})
        + f"?version={version}",
        # The eval runs page is another app's: a plain path, not a URL name that may not exist yet.
        "evals_url": f"/p/{slug}/evals/?set={golden_set.name}",
        "import_error": import_error,
    }
    return render_project(request, project, "goldens/set.html", GOLDENS_TAB | context, status=status)


@project_view(Perm.VIEW_PROJECT)
def golden_set_page(request: HttpRequest, project: Project, set_name: str) -> HttpResponse:
    return _set_page(request, project, _golden_set(project, set_name))


@project_view(Perm.MANAGE_GOLDENS, methods=["GET", "POST"])
def golden_case_edit(request: HttpRequest, project: Project, set_name: str, case_key: str) -> HttpResponse:
    golden_set = _golden_set(project, set_name)
    case = selectors.case_at(golden_set, case_key)
    if case is None:
        raise Http404("No such case in this set")
    payloads = _may(request, project, Perm.VIEW_PAYLOADS)
    if not payloads:  # the form shows and sends payloads
        raise Http404("No such case in this set")
    errors: dict[str, str] = {}
    expected, expected_text = forms.shown(case.expected_output)
    values = {
        "expected_output": expected,
        "expected_text": expected_text,
        "assertions": forms.shown(case.assertions)[0],
        "tags": ", ".join(case.tags),
        "notes": case.notes,
    }
    status = 200
    if request.method == "POST":
        post = request.POST
        values = {
            "expected_output": post.get("expected_output", ""),
            "expected_text": post.get("expected_format") == "text",
            "assertions": post.get("assertions", ""),
            "tags": post.get("tags", ""),
            "notes": post.get("notes", ""),
        }
        try:
            data = forms.case_data(post)
            edited = services.case_edit(golden_set=golden_set, case_key=case_key, user=request.user, data=data)
        except GoldenError as exc:
            errors, status = forms.errors_of(exc), _status(exc)
        else:
            if edited is None:
                raise Http404("No such case in this set")
            if edited.pk == case.pk:  # the same values: no new version
                messages.info(request, f"Case {case_key}: nothing changed.")
            else:
                messages.success(request, f"Edited case {case_key}: version {edited.added_in}.")
            return redirect(set_url(golden_set))
    context = {
        "tab": "goldens",
        "golden_set": golden_set,
        "case": case_row(case, payloads=True, slug=project.slug),
        "values": values,
        "errors": errors,
    }
    return render_project(request, project, "goldens/case_edit.html", GOLDENS_TAB | context, status=status)


@project_view(Perm.MANAGE_GOLDENS, methods=["POST"])
def golden_case_remove(request: HttpRequest, project: Project, set_name: str, case_key: str) -> HttpResponse:
    golden_set = _golden_set(project, set_name)
    version = services.case_remove(golden_set=golden_set, case_key=case_key, user=request.user)
    if version is None:
        raise Http404("No such case in this set")
    messages.success(request, f"Removed case {case_key}: version {version}.")
    return redirect(set_url(golden_set))


@project_view(Perm.MANAGE_GOLDENS, methods=["POST"])
def golden_set_import(request: HttpRequest, project: Project, set_name: str) -> HttpResponse:
    golden_set = _golden_set(project, set_name)
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise GoldenError("file", "choose a JSON lines file")
        if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
            raise GoldenError("file", f"at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
        parsed = jsonl.parse_import(upload.read())
        result = services.cases_import(golden_set=golden_set, user=request.user, cases=parsed)
    except GoldenError as exc:
        return _set_page(request, project, golden_set, import_error=f"{exc.field}: {exc.message}", status=400)
    messages.success(
        request,
        f"Imported: {result.added} added, {result.edited} edited, {result.unchanged} unchanged"
        f" (version {result.version}).",
    )
    return redirect(set_url(golden_set))
