"""The `agentops` console script: Django's manage.py with the settings preset.

`agentops up` runs everything; `agentops web|grpc|worker|beat` one process type each; every Django and
agentops management command (createorg, grant, migrate, shell, ...) is reachable the same way.
`agentops canary` and `agentops eval` are HTTP clients of a running agentops: they are dispatched before
Django is set up, so they load no settings and never start or open a database (agentops.alerts.cli,
agentops.goldens.cli).

A problem the user must fix (a bad setting, an unwritable AGENTOPS_HOME, a port in use for `up`) is
printed as one line, "agentops: <what to do>", with exit code 2 and no traceback. SIGTERM unwinds the
command (exit code 143) instead of killing it outright, so that the embedded database it holds is
released on the way out.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import NoReturn

EXIT_USAGE = 2
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised in the main thread; a BaseException, so that `except Exception` lets it pass."""


def _fail(message: str) -> NoReturn:
    print(f"agentops: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Unwinding runs atexit, where pgserver drops this process's hold on the embedded server.
    raise Terminated


def _preflight_up(args: list[str]) -> None:
    """Check the port and AGENTOPS_HOME of `up` before the settings start the embedded database."""
    from agentops.home import agentops_home
    from agentops.management.commands.up import Command, grpc_port_or_default, uses_embedded_database
    from agentops.supervisor import preflight

    parser = Command().create_parser("agentops", "up")
    parser.called_from_command_line = True  # a bad option prints the usage and exits 2, as argparse does
    options = parser.parse_args(args)
    home = agentops_home() if uses_embedded_database() else None
    preflight(host=options.host, port=options.port, home=home, grpc_port=grpc_port_or_default(options.grpc_port))


def main(argv: list[str] | None = None) -> None:
    args = list(argv if argv is not None else sys.argv[1:])
    if args[:1] == ["canary"]:
        from agentops.alerts.cli import main as canary

        sys.exit(canary(args[1:]))
    if args[:1] == ["eval"]:
        from agentops.goldens.cli import main as evaluate

        sys.exit(evaluate(args[1:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    signal.signal(signal.SIGTERM, _terminate)

    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from agentops.home import HomeNotWritable
    from agentops.supervisor import StartupError

    try:
        if args[:1] == ["up"]:
            _preflight_up(args[1:])
        try:
            # Load the settings here: Django's own loader would turn a bad value into "Unknown command".
            settings.INSTALLED_APPS  # noqa: B018
        except ImproperlyConfigured as exc:
            _fail(str(exc))
        execute_from_command_line(["agentops", *args])
    except (HomeNotWritable, StartupError) as exc:
        _fail(str(exc))
    except Terminated:
        print("agentops: stopped by SIGTERM", file=sys.stderr)
        sys.exit(EXIT_TERMINATED)


if __name__ == "__main__":
    main()
