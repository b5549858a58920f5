"""The reviewer's approval inbox.

GET  /approvals/?order=newest&live=1             pending requests of every project the user may view, in
                                                 one query; `live=1` answers the list alone (the page
                                                 polls it every POLL_SECONDS)
GET  /p/<slug>/approvals/?order=newest&live=1    the same for one project
GET  /p/<slug>/approvals/<approval_id>/          one request: its decisions, the original and edited
                                                 arguments, and the run behind it (a link into the
                                                 replay at the step that asked, the last messages)
POST /p/<slug>/approvals/<approval_id>/decide/   decision=approve|reject|edit, comment, arguments (the
                                                 edited JSON, with edit), from=inbox|all|detail

Pending requests are listed the soonest expiry (the most urgent) first, or with order=newest the newest
first. Every decision goes through agentops.approvals.services.approval_decide; what it refuses is shown
beside the field with its status (400 bad input, 403 one's own request, 409 decided already or
expired), and nothing is recorded. An htmx POST gets the changed part back (the inbox row, gone once the
request is decided; or the request's section); a plain form post is redirected where it came from, or
on a refusal gets the request's page with the error.

The project comes from the tenancy chokepoint (`project_view`): an outsider gets 404 from every URL,
another project's request id is 404, and deciding needs "review approvals" (Reviewer, Admin): anyone
else's POST is 404 too. Arguments, summaries and edits are shown with "view payloads" only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from agentops.approvals import inbox, selectors, services
from agentops.approvals.inbox import DecisionForm
from agentops.approvals.models import ApprovalRequest
from agentops.approvals.services import ApprovalError, ApprovalInvalid
from agentops.pages import is_htmx, project_perms, project_view, render_project
from agentops.tenancy import access
from agentops.tenancy.models import Project, User
from agentops.tenancy.roles import Perm
from traces import replay

POLL_SECONDS = 2


def _newest(request: HttpRequest) -> bool:
    return request.GET.get("order") == "newest"


def _list_context(request: HttpRequest, rows: list[dict[str, Any]], origin: str) -> dict[str, Any]:
    newest = _newest(request)
    order = {"order": "newest"} if newest else {}
    return {
        "rows": rows,
        "newest": newest,
        "origin": origin,
        "live_url": f"{request.path}?{urlencode({**order, 'live': 1})}",
        "poll_seconds": POLL_SECONDS,
    }


@login_required
def approvals_inbox_all(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    projects = access.projects_for(user, Perm.VIEW_PROJECT)
    found = selectors.pending_in_projects(projects, newest=_newest(request))
    # Two queries whatever the number of projects: what the user may see and do, per project.
    payloads = set(access.projects_for(user, Perm.VIEW_PAYLOADS).values_list("pk", flat=True))
    review = set(access.projects_for(user, Perm.REVIEW_APPROVALS).values_list("pk", flat=True))
    now = timezone.now()
    rows = [
        inbox.row(a, user=user, payloads=a.project_id in payloads, review=a.project_id in review, now=now)
        for a in found
    ]
    context = _list_context(request, rows, "all")
    if request.GET.get("live"):
        return render(request, "approvals/_list.html", context)
    return render(request, "approvals/inbox_all.html", context)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # project_view let only a logged-in person through
    return user


def _row(
    request: HttpRequest, project: Project, approval: ApprovalRequest, form: DecisionForm | None = None
) -> dict[str, Any]:
    perms = project_perms(request, project)
    return inbox.row(
        approval,
        user=_user(request),
        payloads=Perm.VIEW_PAYLOADS in perms,
        review=Perm.REVIEW_APPROVALS in perms,
        now=timezone.now(),
        form=form,
    )


@project_view(Perm.VIEW_PROJECT)
def approvals_inbox(request: HttpRequest, project: Project) -> HttpResponse:
    found = selectors.pending_of_project(project, newest=_newest(request))
    context = _list_context(request, [_row(request, project, a) for a in found], "inbox")
    if request.GET.get("live"):
        return render(request, "approvals/_list.html", {"project": project, **context})
    return render_project(request, project, "approvals/inbox.html", {"tab": "approvals", **context})


def _approval(project: Project, approval_id: int) -> ApprovalRequest:
    approval = selectors.approval_in_project(project, approval_id)
    if approval is None:
        raise Http404("No such approval request")
    return approval


def _run_context(request: HttpRequest, project: Project, approval: ApprovalRequest) -> dict[str, Any]:
    """The run behind the request: a link into its replay (at the step that asked, once stored) and,
    for payload viewers, the conversation's last messages before the request."""
    run = selectors.approval_run(project, approval)
    if run is None:
        return {"run": None}
    url = reverse("run_replay", kwargs={"slug": project.slug, "trace_id": run.trace_id.hex})
    step = None
    if approval.span_id:
        order = selectors.replay_order(project, run)
        if approval.span_id in order:
            step = order.index(approval.span_id)
            url = f"{url}?{urlencode({'step': step})}"
    context: dict[str, Any] = {"run": run, "replay_url": url, "step": step}
    if Perm.VIEW_PAYLOADS in project_perms(request, project):
        llm = selectors.last_llm_step(project, run, approval.created_at)
        said: list[dict[str, Any]] = []
        for value in (llm.input, llm.output) if llm is not None else ():
            if isinstance(value, list) and replay.is_messages(value):
                said.extend(value)
        context["llm_step"] = llm
        context["conversation"] = replay.conversation(said[-selectors.CONTEXT_MESSAGES :])
        context["messages_left_out"] = max(len(said) - selectors.CONTEXT_MESSAGES, 0)
    return context


def _detail_context(
    request: HttpRequest, project: Project, approval: ApprovalRequest, form: DecisionForm | None = None
) -> dict[str, Any]:
    row = _row(request, project, approval, form)
    return {"project": project, "row": row, "edits": inbox.edits(approval) if row["payloads"] else []}


@project_view(Perm.VIEW_PROJECT)
def approval_detail(request: HttpRequest, project: Project, approval_id: int) -> HttpResponse:
    return _detail_page(request, project, _approval(project, approval_id))


def _detail_page(
    request: HttpRequest,
    project: Project,
    approval: ApprovalRequest,
    form: DecisionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    ids = selectors.pending_ids(project)
    at = ids.index(approval.pk) if approval.pk in ids else None

    def neighbour(i: int) -> str | None:
        if at is None or not 0 <= i < len(ids):
            return None
        return reverse("approval_detail", kwargs={"slug": project.slug, "approval_id": ids[i]})

    context = {
        **_detail_context(request, project, approval, form),
        **_run_context(request, project, approval),
        "tab": "approvals",
        "previous_url": neighbour(at - 1) if at is not None else None,
        "next_url": neighbour(at + 1) if at is not None else None,
    }
    return render_project(request, project, "approvals/detail.html", context, status=status)


def _done(approval: ApprovalRequest, form: DecisionForm) -> str:
    label = f"{approval.action} #{approval.pk}"
    if approval.state == ApprovalRequest.State.REJECTED:
        return f"Rejected {label}."
    if approval.state == ApprovalRequest.State.APPROVED:
        return f"Approved {label}{' with your edit' if form.decision == 'edit' else ''}."
    return f"Your approval of {label} is recorded; it needs {approval.required_approvals} in all."


def _origin_url(project: Project, approval_id: int, origin: str) -> str:
    if origin == "all":
        return reverse("approvals_inbox_all")
    if origin == "detail":
        return reverse("approval_detail", kwargs={"slug": project.slug, "approval_id": approval_id})
    return reverse("approvals_inbox", kwargs={"slug": project.slug})


@project_view(Perm.REVIEW_APPROVALS, methods=["POST"])
def approval_decide(request: HttpRequest, project: Project, approval_id: int) -> HttpResponse:
    approval = _approval(project, approval_id)  # another project's id: 404 before the form is read
    form = inbox.read_form(request.POST)
    try:
        if form.decision not in inbox.DECISIONS:
            raise ApprovalInvalid("decision", "choose approve, reject, or edit and approve")
        services.approval_decide(
            project=project,
            approval_id=approval.pk,
            reviewer=_user(request),
            decision="reject" if form.decision == "reject" else "approve",
            comment=form.comment,
            arguments=inbox.edited_arguments(form, approval.arguments),
        )
    except ApprovalError as error:
        if error.status == 404:
            raise Http404("No such approval request") from None
        form.errors[error.field] = error.message
        return _refused(request, project, _approval(project, approval_id), form, error.status)
    decided = _approval(project, approval_id)
    done = _done(decided, form)
    if not is_htmx(request):
        messages.success(request, done)
        return redirect(_origin_url(project, approval_id, form.origin))
    if form.origin == "detail":
        return render(
            request, "approvals/_detail_live.html", {**_detail_context(request, project, decided), "done": done}
        )
    # Still pending (more approvals needed): the row stays, showing one's own decision.
    row = _row(request, project, decided) if decided.state == ApprovalRequest.State.PENDING else None
    return render(
        request, "approvals/_decided.html", {"project": project, "row": row, "origin": form.origin, "done": done}
    )


def _refused(
    request: HttpRequest, project: Project, approval: ApprovalRequest, form: DecisionForm, status: int
) -> HttpResponse:
    """The form again with the service's error beside its field; nothing was recorded."""
    if not is_htmx(request):
        return _detail_page(request, project, approval, form, status=status)
    if form.origin == "detail":
        return render(
            request, "approvals/_detail_live.html", _detail_context(request, project, approval, form), status=status
        )
    context = {"project": project, "row": _row(request, project, approval, form), "origin": form.origin}
    return render(request, "approvals/_row.html", context, status=status)
