"""Writes for traces: storing a decoded OTLP batch for a project, and a project's ingest settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction

from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project
from traces.ingest import logs as log_ingest
from traces.ingest.decode import rejection_message
from traces.ingest.normalize import normalize_batch
from traces.ingest.redact import RedactionPolicy
from traces.ingest.rows import ProjectConfig, stage
from traces.ingest.spans import DecodedBatch
from traces.ingest.store import store_rows
from traces.models import IngestPolicy, LogRecord, PriceOverride
from traces.partitions import ensure_months, months_spanned
from traces.selectors import forget_ingest_config, project_ingest_policy


@dataclass(frozen=True)
class IngestResult:
    received: int  # spans in the request, valid or not
    stored: int  # new steps (a retried span is not stored again)
    runs: int  # runs created or updated
    rejected: list[str]  # one reason per rejected span, in request order as far as known

    @property
    def rejection_message(self) -> str:
        return rejection_message(self.rejected)


def ingest_batch(*, config: ProjectConfig, batch: DecodedBatch) -> IngestResult:
    """Normalize, price, redact and store a batch in one transaction; committed when this returns."""
    staged = stage(normalize_batch(batch.spans), config)
    # Before the batch's transaction: creating a partition locks the whole table until commit.
    ensure_months(months_spanned(staged.start_ns))
    with transaction.atomic():
        # Waiting behind a lock (a migration, a long report) would hold the exporter's request open:
        # give up instead, and the endpoint answers 503 so that the exporter retries later.
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.INGEST_LOCK_TIMEOUT_MS}ms"])
        result = store_rows(staged.rows)
    return IngestResult(
        received=len(batch.spans) + len(batch.rejections),
        stored=result.steps_inserted,
        runs=result.runs_touched,
        rejected=[r.reason for r in batch.rejections] + staged.rejected,
    )


@dataclass(frozen=True)
class LogsResult:
    received: int  # records in the request, valid or not
    stored: int  # new records (a retried record is not stored again)
    rejected: list[str]  # one reason per rejected record, in request order

    @property
    def rejection_message(self) -> str:
        return log_ingest.rejection_message(self.rejected)


_LOG_TYPES = {field.attname: field.db_type(connection) for field in LogRecord._meta.concrete_fields}
_LOG_COLUMNS_SQL = ", ".join(log_ingest.LOG_COLUMNS)
# The batch arrives as one JSON parameter, as the store's runs do; inserted in key order, the one lock
# order of every batch, so that two overlapping batches cannot deadlock.
_INSERT_LOGS = f"""
INSERT INTO traces_logrecord ({_LOG_COLUMNS_SQL}, received_at)
SELECT {_LOG_COLUMNS_SQL}, now()
FROM jsonb_to_recordset(%s::jsonb) AS staged({", ".join(f"{c} {_LOG_TYPES[c]}" for c in log_ingest.LOG_COLUMNS)})
ORDER BY trace_id, span_id, time, digest
ON CONFLICT DO NOTHING
RETURNING 1
"""


def ingest_logs(*, config: ProjectConfig, decoded: log_ingest.DecodedLogs) -> LogsResult:
    """Redact and store the log records of a request in one transaction; committed when this returns.
    Each is kept whether or not its span has arrived: the two meet when a step is read."""
    rows = log_ingest.stage_logs(decoded.records, project_id=config.project_id, policy=config.redaction)
    stored = 0
    if rows:
        for row in rows:  # JSON text already: embedded as it is, not as a string
            row["attributes"] = orjson.Fragment(row["attributes"])
            if row["body"] is not None:
                row["body"] = orjson.Fragment(row["body"])
        with transaction.atomic(), connection.cursor() as cursor:
            # As for traces: give up rather than hold the exporter behind a lock; the endpoint says 503.
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.INGEST_LOCK_TIMEOUT_MS}ms"])
            cursor.execute(_INSERT_LOGS, [orjson.dumps(rows).decode()])
            stored = len(cursor.fetchall())
    return LogsResult(received=decoded.received, stored=stored, rejected=[r.reason for r in decoded.rejections])


# --- Project ingest settings: redaction policy and price overrides ----------------------------------
# Each change writes an audit event in its transaction, so the project's audit log shows who changed
# what ingest keeps of a span and what it costs.

MAX_CUSTOM_PATTERNS = 50  # every pattern is one more pass over every string of every span
MAX_PATTERN_CHARS = 500


class IngestSettingsError(ValueError):
    """A settings change that cannot be saved as asked; the message says why, for the form to show."""


def _lock_project(project: Project) -> None:
    # Serializes changes to one project's settings: two first saves of a policy, or two prices for the
    # same model in different case (ingest matches model names case-insensitively), cannot both pass.
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").get()


def _settings_changed(project_id: int) -> None:
    # Ingest in this process applies the change at once (and again after commit, should a batch have
    # cached the old settings meanwhile); other web processes within INGEST_CONFIG_TTL seconds.
    forget_ingest_config(project_id)
    transaction.on_commit(lambda: forget_ingest_config(project_id))


def _policy_state(policy: IngestPolicy) -> dict[str, Any]:
    return {
        "builtin": sorted(policy.builtin_redactions),
        "custom": list(policy.custom_patterns),
        "drop_content": policy.drop_content,
    }


@transaction.atomic
def ingest_policy_update(
    *, project: Project, builtin: Iterable[str], custom: Iterable[str], drop_content: bool, actor: Any = None
) -> IngestPolicy:
    """Set what ingest does to the project's spans from now on; spans stored already stay as they are.

    Empty and repeated custom patterns are left out. An unknown built-in rule, an invalid pattern (or
    one that matches the empty string), too many patterns or a too long one raise IngestSettingsError
    and nothing is saved.
    """
    rules = sorted(set(builtin))
    patterns = list(dict.fromkeys(pattern for pattern in custom if pattern))
    if len(patterns) > MAX_CUSTOM_PATTERNS:
        raise IngestSettingsError(f"at most {MAX_CUSTOM_PATTERNS} custom patterns, not {len(patterns)}")
    for pattern in patterns:
        if len(pattern) > MAX_PATTERN_CHARS:
            raise IngestSettingsError(f"pattern {pattern[:40]!r}… is longer than {MAX_PATTERN_CHARS} characters")
    try:
        # The same validation ingest applies when it builds the policy: what is saved here will load there.
        RedactionPolicy.from_settings(builtin=rules, custom=patterns, drop_content=drop_content)
    except ValueError as exc:
        raise IngestSettingsError(str(exc)) from None

    _lock_project(project)
    policy = project_ingest_policy(project)
    # A project without a row has the defaults in effect: that is the "before" worth recording.
    before = _policy_state(policy)
    policy.builtin_redactions = rules
    policy.custom_patterns = patterns
    policy.drop_content = drop_content
    policy.save()
    after = _policy_state(policy)
    if after != before:
        audit_record(
            actor=actor,
            action="ingest_policy.update",
            target_type="ingest_policy",
            target_id=policy.pk,
            target_label=project.slug,
            before=before,
            after=after,
            project=project,
        )
    _settings_changed(project.pk)
    return policy


def _usd(amount: Decimal | None) -> str | None:
    # "2.5", not "2.500000" nor "2.5E+1": stored prices have six decimals, typed ones any number.
    return None if amount is None else format(amount.normalize(), "f")


def price_state(override: PriceOverride) -> dict[str, Any]:
    """A price as the audit log records it and the settings page shows it: decimals as short strings."""
    return {
        "model": override.model,
        "input_per_mtok": _usd(override.input_per_mtok),
        "output_per_mtok": _usd(override.output_per_mtok),
        "cache_read_per_mtok": _usd(override.cache_read_per_mtok),
        "cache_write_per_mtok": _usd(override.cache_write_per_mtok),
    }


@transaction.atomic
def price_override_set(
    *,
    project: Project,
    model: str,
    input_per_mtok: Decimal,
    output_per_mtok: Decimal,
    cache_read_per_mtok: Decimal | None = None,
    cache_write_per_mtok: Decimal | None = None,
    actor: Any = None,
) -> PriceOverride:
    """Price `model` for this project (USD per million tokens), over the bundled genai-prices.

    A model the project prices already, in any letter case, is refused: ingest matches names without
    case, so two rows would make the price depend on which one it read last. Delete the old one first.
    Cache prices left out are charged at the input price.
    """
    model = model.strip()
    if not model:
        raise IngestSettingsError("name the model, as your agents send it (e.g. gpt-4o)")
    prices = (input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok)
    if any(price is not None and price < 0 for price in prices):
        raise IngestSettingsError("prices cannot be negative")
    _lock_project(project)
    existing = PriceOverride.objects.filter(project=project, model__iexact=model).first()
    if existing is not None:
        raise IngestSettingsError(f"{existing.model} has a price already: delete it first to change it")
    override = PriceOverride.objects.create(
        project=project,
        model=model,
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        cache_read_per_mtok=cache_read_per_mtok,
        cache_write_per_mtok=cache_write_per_mtok,
    )
    audit_record(
        actor=actor,
        action="price_override.set",
        target_type="price_override",
        target_id=override.pk,
        target_label=override.model,
        after=price_state(override),
        project=project,
    )
    _settings_changed(project.pk)
    return override


@transaction.atomic
def price_override_delete(*, override: PriceOverride, actor: Any = None) -> None:
    """Remove a project's price; the model is priced by genai-prices again (or left unpriced)."""
    override = PriceOverride.objects.select_for_update().select_related("project").get(pk=override.pk)
    audit_record(
        actor=actor,
        action="price_override.delete",
        target_type="price_override",
        target_id=override.pk,
        target_label=override.model,
        before=price_state(override),
        project=override.project,
    )
    override.delete()
    _settings_changed(override.project_id)
