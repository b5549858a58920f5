"""agentops createproject --org ORG NAME [--slug SLUG] [--json]: a project and its first ingest key."""

from typing import Any

from django.core.management.base import CommandParser
from django.db import transaction

from agentops.tenancy import services
from agentops.tenancy.management.base import TenancyCommand, get_org, otel_lines


class Command(TenancyCommand):
    help = "Create a project in an organization, with a first ingest key (printed once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--org", required=True, help="organization slug or name")
        parser.add_argument("--slug", help="URL name (default: derived from the name)")
        super().add_arguments(parser)

    @transaction.atomic
    def act(self, **options: Any) -> tuple[dict[str, Any], str]:
        org = get_org(options["org"])
        project = services.project_create(organization=org, name=options["name"], slug=options["slug"])
        minted = services.ingest_key_create(project=project, name="first key")
        result = {
            "slug": project.slug,
            "name": project.name,
            "organization": org.slug,
            "ingest_key": minted.secret,
            "ingest_key_prefix": minted.key.prefix,
        }
        text = (
            f"Created project {project.slug} in {org.slug}\n"
            f"Ingest key (shown once): {minted.secret}\n{otel_lines(minted.secret)}"
        )
        return result, text
