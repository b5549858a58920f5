"""REST API of notification channels, under /api/v1/projects/<slug>/channels/.

- channels/                   GET the project's channels with their delivery state; POST create one:
                              {"kind": "webhook", "url": ..., "secret": ...} (secret optional: made
                              when absent), {"kind": "slack", "url": ...}, {"kind": "email",
                              "recipients": [...]}; "name" optional. 201 with the channel and, for a
                              webhook, its "secret": the only time it is shown.
- channels/<id>/              GET one; PATCH name, url, enabled, recipients, rotate_secret (the new
                              secret is in that answer only); DELETE (204).
- channels/<id>/test/         POST queues a `test` event to the channel (202 with the message).
- channels/<id>/deliveries/   GET the latest delivery attempts, newest first.

Viewers read (never a secret: see agentops.notify.presenters); writing needs the "manage alerts"
permission (Engineer and above). As everywhere on the API (agentops.tenancy.endpoints), another tenant's
project or channel, and a permission the caller lacks, answer 404; a method the endpoint does not serve
answers 405. A bad field answers 400 naming it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agentops.notify import selectors, services
from agentops.notify.models import USER_KINDS, Channel
from agentops.notify.presenters import attempt_dict, channel_dict
from agentops.tenancy.endpoints import ProjectAPIView
from agentops.tenancy.roles import Perm


class _ChannelAPIView(ProjectAPIView):
    """The project comes from the chokepoint with the permission of the method (`required_perms`); a
    channel only from the project's own (another project's id is a 404 like a missing one)."""

    @property
    def manage(self) -> bool:
        return Perm.MANAGE_ALERTS in self.perms

    def channel(self, channel_id: int) -> Channel:
        channel = selectors.project_channel(self.project, channel_id)
        if channel is None:
            raise NotFound("No such channel in this project")
        return channel


def _reject_unknown(data: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError({"detail": "Send a JSON object."})
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    return data


class ChannelCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=USER_KINDS)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    url = serializers.CharField(required=False, allow_blank=True, help_text="webhook and slack: http(s) URL")
    secret = serializers.CharField(
        required=False, allow_blank=True, help_text="webhook: signing secret (16-200 characters); made when absent"
    )
    recipients = serializers.ListField(child=serializers.CharField(), required=False, help_text="email: addresses")


class ChannelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    url = serializers.CharField(required=False)
    enabled = serializers.BooleanField(required=False)
    recipients = serializers.ListField(child=serializers.CharField(), required=False)
    rotate_secret = serializers.BooleanField(required=False, help_text="webhook: make a new secret (shown once)")


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    _reject_unknown(data, set(serializer_class().fields))
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _minted(minted: services.MintedChannel, *, manage: bool) -> dict[str, Any]:
    data = channel_dict(minted.channel, manage=manage)
    if minted.secret:
        data["secret"] = minted.secret
    return data


_CHANNEL = inline_serializer("Channel", fields={"data": serializers.JSONField()})


class ChannelList(_ChannelAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "POST": Perm.MANAGE_ALERTS}

    @extend_schema(responses=_CHANNEL, summary="Notification channels of a project, with their delivery state")
    def get(self, request: Request, slug: str) -> Response:
        channels = selectors.project_channels(self.project)
        return Response({"results": [channel_dict(c, manage=self.manage) for c in channels]})

    @extend_schema(request=ChannelCreateSerializer, responses=_CHANNEL, summary="Create a channel")
    def post(self, request: Request, slug: str) -> Response:
        data = _valid(ChannelCreateSerializer, request.data)
        try:
            minted = services.channel_create(project=self.project, actor=request.user, **data)
        except services.ChannelError as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc
        return Response(_minted(minted, manage=True), status=status.HTTP_201_CREATED)


class ChannelDetail(_ChannelAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT, "PATCH": Perm.MANAGE_ALERTS, "DELETE": Perm.MANAGE_ALERTS}

    @extend_schema(responses=_CHANNEL, summary="One channel")
    def get(self, request: Request, slug: str, channel_id: int) -> Response:
        return Response(channel_dict(self.channel(channel_id), manage=self.manage))

    @extend_schema(request=ChannelUpdateSerializer, responses=_CHANNEL, summary="Change a channel")
    def patch(self, request: Request, slug: str, channel_id: int) -> Response:
        channel = self.channel(channel_id)
        data = _valid(ChannelUpdateSerializer, request.data)
        try:
            minted = services.channel_update(channel=channel, actor=request.user, **data)
        except services.ChannelError as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc
        fresh = selectors.project_channel(self.project, channel_id)
        assert fresh is not None
        return Response(_minted(services.MintedChannel(channel=fresh, secret=minted.secret), manage=True))

    @extend_schema(responses={204: None}, summary="Delete a channel and its queued messages")
    def delete(self, request: Request, slug: str, channel_id: int) -> Response:
        services.channel_delete(channel=self.channel(channel_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTest(_ChannelAPIView):
    required_perms = {"POST": Perm.MANAGE_ALERTS}

    @extend_schema(request=None, responses=_CHANNEL, summary="Send a test notification")
    def post(self, request: Request, slug: str, channel_id: int) -> Response:
        try:
            message = services.channel_send_test(channel=self.channel(channel_id), actor=request.user)
        except services.ChannelError as exc:
            return Response({exc.field: [exc.message]}, status=status.HTTP_409_CONFLICT)
        body = {"message": message.pk, "event": message.event, "state": message.state}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ChannelDeliveries(_ChannelAPIView):
    required_perms = {"GET": Perm.VIEW_PROJECT}

    @extend_schema(responses=_CHANNEL, summary="A channel's latest delivery attempts, newest first")
    def get(self, request: Request, slug: str, channel_id: int) -> Response:
        attempts = selectors.channel_attempts(self.channel(channel_id))
        return Response({"results": [attempt_dict(a) for a in attempts]})
