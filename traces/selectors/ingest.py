"""Reads for ingest: a project's ingest settings, as the pipeline takes them, and for its settings page."""

from __future__ import annotations

import logging
import time

from django.db.models import QuerySet

from agentops.tenancy.models import Project
from traces.ingest.pricing import ModelPrice
from traces.ingest.redact import BUILTIN_RULES, RedactionPolicy, unusable_patterns
from traces.ingest.rows import ProjectConfig
from traces.models import IngestPolicy, PriceOverride

# A project's ingest settings change rarely and every batch needs them: each web process keeps them for
# a few seconds (two queries and a regex compilation saved per batch). A change applies within that time.
log = logging.getLogger("traces.ingest")

INGEST_CONFIG_TTL = 5.0
_config_cache: dict[int, tuple[float, ProjectConfig]] = {}


def ingest_config(project_id: int) -> ProjectConfig:
    """The project's ingest settings, as of at most INGEST_CONFIG_TTL seconds ago."""
    now = time.monotonic()
    cached = _config_cache.get(project_id)
    if cached is not None and now - cached[0] < INGEST_CONFIG_TTL:
        return cached[1]
    config = load_ingest_config(project_id)
    _config_cache[project_id] = (now, config)
    return config


def forget_ingest_config(project_id: int) -> None:
    """Drop this process's copy (the settings page calls it, so its own process applies a change at once)."""
    _config_cache.pop(project_id, None)


def load_ingest_config(project_id: int) -> ProjectConfig:
    """The project's redaction policy and price overrides, as the ingest pipeline takes them."""
    policy = IngestPolicy.objects.filter(project_id=project_id).first()
    overrides = {
        o.model.lower(): ModelPrice(
            input_per_mtok=o.input_per_mtok,
            output_per_mtok=o.output_per_mtok,
            cache_read_per_mtok=o.cache_read_per_mtok,
            cache_write_per_mtok=o.cache_write_per_mtok,
        )
        for o in PriceOverride.objects.filter(project_id=project_id)
    }
    redaction = RedactionPolicy(builtin=BUILTIN_RULES) if policy is None else _redaction(policy)
    return ProjectConfig(project_id=project_id, redaction=redaction, price_overrides=overrides)


def _redaction(policy: IngestPolicy) -> RedactionPolicy:
    unusable = unusable_patterns(policy.custom_patterns)
    if unusable:
        # A pattern saved before custom patterns ran on RE2, which cannot run now. Failing every batch
        # would lose whole runs (exporters do not retry a 500); storing content unredacted could leak
        # what the pattern was meant to hide. So content is dropped, and the settings page says why.
        log.warning(
            "ingest policy holds patterns that cannot run: message content is dropped until they are fixed",
            extra={"event": "ingest.policy_unusable", "project": policy.project_id, "patterns": list(unusable)},
        )
    return RedactionPolicy.from_settings(
        builtin=policy.builtin_redactions,
        custom=[pattern for pattern in policy.custom_patterns if pattern not in unusable],
        drop_content=policy.drop_content or bool(unusable),
    )


def project_ingest_policy(project: Project) -> IngestPolicy:
    """The project's ingest policy; an unsaved one holding the defaults when it has none yet."""
    return IngestPolicy.objects.filter(project=project).first() or IngestPolicy(project=project)


def project_price_overrides(project: Project) -> QuerySet[PriceOverride]:
    return PriceOverride.objects.filter(project=project).order_by("model", "pk")
