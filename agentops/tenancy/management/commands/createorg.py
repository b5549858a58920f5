"""agentops createorg NAME [--slug SLUG] [--json]: create an organization."""

from typing import Any

from django.core.management.base import CommandParser

from agentops.tenancy import services
from agentops.tenancy.management.base import TenancyCommand


class Command(TenancyCommand):
    help = "Create an organization."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--slug", help="URL name (default: derived from the name)")
        super().add_arguments(parser)

    def act(self, **options: Any) -> tuple[dict[str, Any], str]:
        org = services.organization_create(name=options["name"], slug=options["slug"])
        return {"id": org.pk, "name": org.name, "slug": org.slug}, f"Created organization {org.slug}"
