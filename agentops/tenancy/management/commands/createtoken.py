"""agentops createtoken EMAIL [--name NAME] [--json]: a personal API token, printed once."""

from typing import Any

from django.core.management.base import CommandParser

from agentops.tenancy import services
from agentops.tenancy.management.base import TenancyCommand, get_user


class Command(TenancyCommand):
    help = "Create a personal API token for a user; it acts with that user's roles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="cli", help="a label for the token")
        super().add_arguments(parser)

    def act(self, **options: Any) -> tuple[dict[str, Any], str]:
        user = get_user(options["email"])
        minted = services.api_token_create(user=user, name=options["name"])
        result = {"email": user.email, "token": minted.secret, "prefix": minted.token.prefix, "id": minted.token.pk}
        return (
            result,
            f"API token for {user.email} (shown once): {minted.secret}\nUse it as: Authorization: Bearer {minted.secret}",
        )
