"""The project's channels page: its notification channels, their delivery state and recent attempts.

GET  /p/<slug>/channels/                           the page (Viewers and above; editing for Engineers+)
POST /p/<slug>/channels/create/                    create; a webhook's secret is shown on the answer
                                                   page, once
GET  /p/<slug>/channels/<channel_id>/              one channel's rows (htmx: the page polls it while
                                                   messages are pending)
POST /p/<slug>/channels/<channel_id>/enabled/      enable (enabled=1) or disable (enabled=0)
POST /p/<slug>/channels/<channel_id>/test/         queue a test notification
POST /p/<slug>/channels/<channel_id>/delete/       delete with its queued messages

The project comes from the tenancy chokepoint (`project_view`): another tenant, or a member without
the permission, gets 404 whatever the method. A POST from htmx gets the channel's rows back (or an
empty answer after a delete); a plain form post is redirected to the page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from agentops.notify import selectors, services
from agentops.notify.forms import ChannelForm
from agentops.notify.models import Channel
from agentops.notify.presenters import shown_url
from agentops.pages import is_htmx, project_perms, project_view, render_project
from agentops.tenancy.models import Project
from agentops.tenancy.roles import Perm

POLL_SECONDS = 2


def _rows(channels: list[Channel], manage: bool) -> list[dict[str, Any]]:
    attempts = selectors.recent_attempts_by_channel(channels)
    return [{"c": c, "url": shown_url(c, manage=manage), "attempts": attempts.get(c.pk, [])} for c in channels]


def _page(request: HttpRequest, project: Project, form: ChannelForm | None = None, status: int = 200) -> HttpResponse:
    manage = Perm.MANAGE_ALERTS in project_perms(request, project)
    context = {
        "tab": "channels",
        "rows": _rows(list(selectors.project_channels(project)), manage),
        "manage": manage,
        "form": form or ChannelForm(),
        "poll_seconds": POLL_SECONDS,
    }
    return render_project(request, project, "notify/channels.html", context, status=status)


def _channel(project: Project, channel_id: int) -> Channel:
    channel = selectors.project_channel(project, channel_id)
    if channel is None:
        raise Http404("No such channel")
    return channel


def _channel_rows(request: HttpRequest, project: Project, channel_id: int) -> HttpResponse:
    manage = Perm.MANAGE_ALERTS in project_perms(request, project)
    row = _rows([_channel(project, channel_id)], manage)[0]
    context = {"project": project, "row": row, "manage": manage, "poll_seconds": POLL_SECONDS}
    return render(request, "notify/_channel.html", context)


@project_view(Perm.VIEW_PROJECT)
def channels(request: HttpRequest, project: Project) -> HttpResponse:
    return _page(request, project)


@project_view(Perm.VIEW_PROJECT)
def channel_rows(request: HttpRequest, project: Project, channel_id: int) -> HttpResponse:
    return _channel_rows(request, project, channel_id)


@never_cache
@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def channel_create(request: HttpRequest, project: Project) -> HttpResponse:
    form = ChannelForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            minted = services.channel_create(
                project=project,
                kind=data["kind"],
                name=data["name"],
                url=data["url"] or None,
                secret=data["secret"] or None,
                recipients=data["recipients"] or None,
                actor=request.user,
            )
        except services.ChannelError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if minted.secret:
                # The secret exists in this answer and in the database only: no later page shows it.
                context = {"tab": "channels", "channel": minted.channel, "secret": minted.secret}
                return render_project(request, project, "notify/channel_created.html", context)
            messages.success(request, f"Channel {minted.channel.name} created.")
            return redirect("channels", slug=project.slug)
    return _page(request, project, form=form, status=400)


def _after_action(request: HttpRequest, project: Project, channel_id: int, done: str) -> HttpResponse:
    if is_htmx(request):
        return _channel_rows(request, project, channel_id)
    messages.success(request, done)
    return redirect("channels", slug=project.slug)


@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def channel_enabled(request: HttpRequest, project: Project, channel_id: int) -> HttpResponse:
    channel = _channel(project, channel_id)
    enable = request.POST.get("enabled") == "1"
    services.channel_update(channel=channel, enabled=enable, actor=request.user)
    return _after_action(request, project, channel_id, f"Channel {channel.name} {'enabled' if enable else 'disabled'}.")


@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def channel_test(request: HttpRequest, project: Project, channel_id: int) -> HttpResponse:
    channel = _channel(project, channel_id)
    try:
        services.channel_send_test(channel=channel, actor=request.user)
    except services.ChannelError as exc:
        if is_htmx(request):
            return HttpResponse(exc.message, status=409)
        messages.error(request, exc.message)
        return redirect("channels", slug=project.slug)
    return _after_action(request, project, channel_id, f"Test notification queued for {channel.name}.")


@project_view(Perm.MANAGE_ALERTS, methods=["POST"])
def channel_delete(request: HttpRequest, project: Project, channel_id: int) -> HttpResponse:
    channel = _channel(project, channel_id)
    services.channel_delete(channel=channel, actor=request.user)
    if is_htmx(request):
        return HttpResponse("")
    messages.success(request, f"Channel {channel.name} deleted.")
    return redirect("channels", slug=project.slug)
