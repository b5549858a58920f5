"""agentops audit verify [--project SLUG] [--json]: check the audit log's hash chains.

Exits 0 when every chain checked is intact; otherwise 1, naming the first bad event (its id, time,
chain and the check that failed: its hash against its content, or its link to the previous event of
its chain, which is how a deleted event shows). Without --project every chain is checked, the legacy
one (events written before per-project chains) included; with it, that project's chain.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentops.tenancy.audit import verify
from agentops.tenancy.management.base import get_project
from agentops.tenancy.models import AuditEvent


class Command(BaseCommand):
    help = "Audit log tools: `verify` checks the hash chains and names the first bad event."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="verify")
        check = sub.add_parser("verify", help="check the hash chain(s); exit 1 naming the first bad event")
        check.add_argument("--project", help="check only this project's chain (its slug)")
        check.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        project = get_project(options["project"]) if options.get("project") else None
        broken = verify(project)
        scope = f"project {project.slug}" if project else "all chains"
        if broken is None:
            events = AuditEvent.objects.filter(chain=f"project:{project.pk}") if project else AuditEvent.objects
            result = {"ok": True, "scope": scope, "events": events.count()}
            text = f"Audit log intact ({scope}, {result['events']} events)."
            self.stdout.write(json.dumps(result) if options["json"] else text)
            return
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": False,
                        "scope": scope,
                        "event_id": broken.event_id,
                        "created_at": broken.created_at.isoformat(),
                        "chain": broken.chain,
                        "check": broken.check,
                    }
                )
            )
        raise CommandError(f"Audit log broken at {broken}")
