"""Shared shape of the tenancy commands: `--json` output, and errors that change nothing."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentops.tenancy.models import Organization, Project, User
from agentops.tenancy.services import TenancyError


class TenancyCommand(BaseCommand):
    """Subclasses implement `act(**options) -> (dict, text)`; the dict is printed with --json."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result, text = self.act(**options)
        except (TenancyError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result, indent=2, default=str) if options["json"] else text)

    def act(self, **options: Any) -> tuple[dict[str, Any], str]:
        raise NotImplementedError


def get_org(ref: str) -> Organization:
    org = Organization.objects.filter(slug=ref).first() or Organization.objects.filter(name=ref).first()
    if org is None:
        raise CommandError(f"no organization {ref!r} (give its slug or exact name)")
    return org


def get_project(slug: str) -> Project:
    project = Project.objects.select_related("organization").filter(slug=slug).first()
    if project is None:
        raise CommandError(f"no project with slug {slug!r}")
    return project


def get_user(email: str) -> User:
    user = User.objects.filter(email=email.strip().lower()).first()
    if user is None:
        raise CommandError(f"no user {email!r}: create it first with `agentops createuser {email}`")
    return user


def otel_lines(secret: str) -> str:
    from django.conf import settings

    return (
        f"OTEL_EXPORTER_OTLP_ENDPOINT={settings.SITE_URL}\nOTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20{secret}"
    )
