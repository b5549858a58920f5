"""Pages of retention (see agentops.retention.views)."""

from django.urls import path, re_path

from agentops.retention import views

_settings = "p/<slug:slug>/settings/retention"

urlpatterns = [
    path(f"{_settings}/", views.retention_settings, name="retention_settings"),
    path(f"{_settings}/erasures/", views.erasure_create, name="retention_erasure"),
    re_path(r"^p/(?P<slug>[-a-zA-Z0-9_]+)/runs/(?P<trace_id>[0-9a-fA-F]{32})/pin/$", views.run_pin, name="run_pin"),
]
