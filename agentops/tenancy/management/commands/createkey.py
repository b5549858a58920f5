"""agentops createkey --project SLUG [--name NAME] [--json]: a new ingest key, printed once."""

from typing import Any

from django.core.management.base import CommandParser

from agentops.tenancy import services
from agentops.tenancy.management.base import TenancyCommand, get_project, otel_lines


class Command(TenancyCommand):
    help = "Create an ingest key for a project (printed once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--name", default="cli", help="a label for the key")
        super().add_arguments(parser)

    def act(self, **options: Any) -> tuple[dict[str, Any], str]:
        project = get_project(options["project"])
        minted = services.ingest_key_create(project=project, name=options["name"])
        result = {"project": project.slug, "key": minted.secret, "prefix": minted.key.prefix, "id": minted.key.pk}
        return result, f"Ingest key for {project.slug} (shown once): {minted.secret}\n{otel_lines(minted.secret)}"
