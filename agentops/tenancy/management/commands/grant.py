"""agentops grant EMAIL --project SLUG --role viewer|engineer|reviewer|admin [--json]."""

from typing import Any

from django.core.management.base import CommandParser

from agentops.tenancy import services
from agentops.tenancy.management.base import TenancyCommand, get_project, get_user
from agentops.tenancy.roles import Role, parse_role


class Command(TenancyCommand):
    help = "Give a user a role on a project (replacing the role held before)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--role", required=True, help=", ".join(r.value for r in Role))
        super().add_arguments(parser)

    def act(self, **options: Any) -> tuple[dict[str, Any], str]:
        role = parse_role(options["role"])  # before any lookup: a wrong role changes nothing
        project = get_project(options["project"])
        user = get_user(options["email"])
        services.membership_grant(user=user, project=project, role=role)
        result = {"email": user.email, "project": project.slug, "role": role.value}
        return result, f"{user.email} is now {role.value} of {project.slug}"
