"""agentops createuser EMAIL [--password P] [--superuser] [--json]: a user who logs in by e-mail."""

import secrets
from typing import Any

from django.core.management.base import CommandParser

from agentops.tenancy import services
from agentops.tenancy.management.base import TenancyCommand


class Command(TenancyCommand):
    help = "Create a user. Without --password a password is generated and printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--password", help="the password (default: generated and printed)")
        parser.add_argument("--superuser", action="store_true", help="may use Django admin and see all projects")
        super().add_arguments(parser)

    def act(self, **options: Any) -> tuple[dict[str, Any], str]:
        generated = options["password"] is None
        password = secrets.token_urlsafe(12) if generated else options["password"]
        user = services.user_create(email=options["email"], password=password, is_superuser=options["superuser"])
        result: dict[str, Any] = {"id": user.pk, "email": user.email, "superuser": user.is_superuser}
        text = f"Created user {user.email}"
        if generated:
            result["password"] = password
            text += f"\nPassword (shown once): {password}"
        return result, text
