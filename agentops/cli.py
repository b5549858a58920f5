"""The `agentops` console script: Django's manage.py with the settings preset.

`agentops up` runs everything; `agentops web|worker|beat` one process type each; every Django and
agentops management command (createorg, grant, migrate, shell, ...) is reachable the same way.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["agentops", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    main()
