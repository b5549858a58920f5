"""Pages of notifications: a project's channels."""

from django.urls import path

from agentops.notify import views

_channels = "p/<slug:slug>/channels"

urlpatterns = [
    path(f"{_channels}/", views.channels, name="channels"),
    path(f"{_channels}/create/", views.channel_create, name="channel_create"),
    path(f"{_channels}/<int:channel_id>/", views.channel_rows, name="channel_rows"),
    path(f"{_channels}/<int:channel_id>/enabled/", views.channel_enabled, name="channel_enabled"),
    path(f"{_channels}/<int:channel_id>/test/", views.channel_test, name="channel_test"),
    path(f"{_channels}/<int:channel_id>/delete/", views.channel_delete, name="channel_delete"),
]
