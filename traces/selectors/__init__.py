"""Reads for traces, one module per area. Anything that starts from a user goes through
agentops.tenancy.access; these functions take a project that the caller resolved through it."""

from traces.selectors.ingest import (
    INGEST_CONFIG_TTL,
    forget_ingest_config,
    ingest_config,
    load_ingest_config,
    project_ingest_policy,
    project_price_overrides,
)
from traces.selectors.runs import PAYLOAD_FIELDS, project_run, project_runs, run_step, run_steps

__all__ = [
    "INGEST_CONFIG_TTL",
    "PAYLOAD_FIELDS",
    "forget_ingest_config",
    "ingest_config",
    "load_ingest_config",
    "project_ingest_policy",
    "project_price_overrides",
    "project_run",
    "project_runs",
    "run_step",
    "run_steps",
]
