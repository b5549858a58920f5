"""{% pin_button %} on a run's replay: pin or unpin the run, for the project's admins only."""

from __future__ import annotations

from typing import Any

from django import template

from agentops.retention.models import Pin

register = template.Library()


@register.inclusion_tag("retention/_pin_button.html", takes_context=True)
def pin_button(context: dict[str, Any]) -> dict[str, Any]:
    project, run = context.get("project"), context.get("run")
    admin = "admin_project" in context.get("project_perms", ())
    if not admin or project is None or run is None or run.pk is None:
        return {"show": False}
    pin = Pin.objects.filter(project=project, trace_id=run.trace_id).first()
    return {
        "show": True,
        "project": project,
        "trace_id": run.trace_id.hex,
        "pin": pin,
        "csrf_token": context.get("csrf_token"),
    }
