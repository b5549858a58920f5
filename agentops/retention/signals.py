"""A new project gets the environment's default retention policy, stored: changing the environment later
changes the defaults of projects created after, not the policy of existing ones."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from agentops.tenancy.models import Project


@receiver(post_save, sender=Project, dispatch_uid="retention_default_policy")
def _default_policy(sender: Any, instance: Project, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        from agentops.retention.policy import policy_create_default

        policy_create_default(instance)
