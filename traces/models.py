"""Runs (one trace each) and steps (one span each), plus each project's ingest policy.

Steps live in a table partitioned by month of start time (created by a hand-written migration, so the
model is unmanaged): retention can drop whole partitions, and a month's index stays small. A step is
unique by (project, trace, span, start time): a retried export inserts nothing twice.

Ids are stored compactly: trace id as a uuid (16 bytes), span ids as signed 64-bit integers; the API
shows both as lowercase hex, as OTLP/JSON does (see traces.ids).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from agentops.tenancy.models import Project
from traces.fields import OrderedJSONField
from traces.ingest.steps import StepKind

# One definition of the kinds, the pipeline's; the column's choices follow it (labels as TextChoices
# would make them, so that migrations see no change).
STEP_KIND_CHOICES = [(kind.value, kind.name.replace("_", " ").title()) for kind in StepKind]


class RunStatus(models.TextChoices):
    OK = "ok"
    ERROR = "error"
    UNFINISHED = "unfinished"


def default_redactions() -> list[str]:
    from traces.ingest.redact import BUILTIN_RULES

    return sorted(BUILTIN_RULES)


class IngestPolicy(models.Model):
    """What a project does to spans before storing them: redaction and content capture."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="ingest_policy")
    # Names of built-in rules (traces.ingest.redact.BUILTIN_RULES); all on by default, as for a
    # project that has no policy row at all.
    builtin_redactions = ArrayField(models.CharField(max_length=32), default=default_redactions, blank=True)
    custom_patterns = ArrayField(models.TextField(), default=list, blank=True)
    drop_content = models.BooleanField(default=False, help_text="Store no message content, inputs or outputs")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"ingest policy of {self.project}"


class PriceOverride(models.Model):
    """A project's own price for a model (custom, fine-tuned or self-hosted), in USD per million tokens."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="price_overrides")
    model = models.CharField(max_length=200, help_text="Model name as sent, matched case-insensitively")
    input_per_mtok = models.DecimalField(max_digits=14, decimal_places=6)
    output_per_mtok = models.DecimalField(max_digits=14, decimal_places=6)
    cache_read_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_write_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "model"], name="price_override_project_model")]

    def __str__(self) -> str:
        return f"{self.model} @ {self.project}"


class Run(models.Model):
    """One trace. Every column is an aggregate that is correct whatever order its spans arrive in."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    trace_id = models.UUIDField()
    root_span_id = models.BigIntegerField(null=True)
    name = models.CharField(max_length=500, blank=True, default="")
    agent = models.CharField(max_length=200, blank=True, default="")
    # Which step named the agent: -1 for the root span, else that step's start (ns); lower wins.
    agent_rank = models.BigIntegerField(null=True)
    bundle = models.CharField(max_length=200, blank=True, default="")
    bundle_source = models.CharField(max_length=16, blank=True, default="")
    environment = models.CharField(max_length=100, blank=True, default="")
    session_id = models.CharField(max_length=200, blank=True, default="")
    user_id = models.CharField(max_length=200, blank=True, default="")
    # Which step each came from, ranked as agent_rank, so that batches merge them in any order. Null
    # with a value: stored before these ranks were kept (treated as rank 0: only the root outranks it).
    environment_rank = models.BigIntegerField(null=True)
    session_rank = models.BigIntegerField(null=True)
    user_rank = models.BigIntegerField(null=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True)
    root_ended = models.BooleanField(default=False)
    step_count = models.IntegerField(default=0)
    llm_calls = models.IntegerField(default=0)
    tool_calls = models.IntegerField(default=0)
    error_count = models.IntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    unpriced_steps = models.IntegerField(default=0)
    reported_cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True)
    tags = ArrayField(models.CharField(max_length=200), default=list)
    # The OTel resource of the run's root span, else of its earliest step: service, SDK, host.
    resource = models.JSONField(default=dict)
    resource_rank = models.BigIntegerField(null=True)
    models_used = ArrayField(models.CharField(max_length=200), default=list)
    tools_used = ArrayField(models.CharField(max_length=200), default=list)
    input_preview = models.TextField(blank=True, default="")
    input_preview_ns = models.BigIntegerField(null=True)
    output_preview = models.TextField(blank=True, default="")
    output_preview_ns = models.BigIntegerField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="run_project_trace")]
        indexes = [
            models.Index(fields=["project", "-start_time", "-id"], name="run_project_recent"),
            models.Index(fields=["project", "agent", "bundle", "-start_time"], name="run_project_agent"),
            models.Index(fields=["project", "session_id", "start_time"], name="run_project_session"),
            # The run list's filters that can match few runs of many: without these a rare user, or a model
            # no run used, walked the newest-runs index through a million runs (1.8 s and 3.4 s measured).
            models.Index(fields=["project", "user_id", "-start_time"], name="run_project_user"),
            models.Index(fields=["project", "environment", "-start_time"], name="run_project_environment"),
            models.Index(fields=["project", "bundle", "-start_time"], name="run_project_bundle"),
            GinIndex(fields=["models_used"], name="run_models_used"),
            GinIndex(fields=["tools_used"], name="run_tools_used"),
            # The rollup refresh (traces.rollups) finds the hours to recompute by the runs changed since.
            # BRIN: a summarizing index, which (Postgres 16+) leaves ingest's run upserts HOT, and rows
            # are appended roughly in updated_at order.
            BrinIndex(fields=["updated_at"], name="run_updated"),
        ]

    def __str__(self) -> str:
        return f"run {self.trace_id.hex}"

    @property
    def status(self) -> str:
        if self.error_count:
            return RunStatus.ERROR
        return RunStatus.OK if self.root_ended else RunStatus.UNFINISHED

    @property
    def cost_complete(self) -> bool:
        return self.unpriced_steps == 0

    @property
    def duration_ms(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds() * 1000


class RunWords(models.Model):
    """A run's search document: the words of all its steps' inputs, outputs, errors and tool names
    (traces.ingest.words), merged batch by batch at ingest (traces.ingest.store). A table of its own and
    not a column of traces_run: the run row is updated by every batch, and a growing document there would
    be rewritten, and its index entries added again, each time, and cost the run upserts their HOT
    updates. One row per run, so that every word of a query is looked for in the whole run.

    Deleted with its run by the database (ON DELETE CASCADE, migration 0014): retention and erasure
    delete runs with raw SQL; retention deletes it with the run's previews when payloads expire."""

    run = models.OneToOneField(Run, primary_key=True, on_delete=models.CASCADE, db_constraint=False, related_name="+")
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    words = SearchVectorField()

    class Meta:
        indexes = [GinIndex(fields=["words"], name="run_words_search")]

    def __str__(self) -> str:
        return f"words of run {self.run_id}"


class Step(models.Model):
    """One span, normalized. Unmanaged: the partitioned table is created by migration 0002."""

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    trace_id = models.UUIDField()
    span_id = models.BigIntegerField()
    parent_span_id = models.BigIntegerField(null=True)
    name = models.TextField()
    kind = models.CharField(max_length=16, choices=STEP_KIND_CHOICES)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True)
    duration_ns = models.BigIntegerField(null=True)
    status = models.CharField(max_length=8)
    error_type = models.TextField(null=True)
    error_message = models.TextField(null=True)
    model = models.TextField(null=True)
    provider = models.TextField(null=True)
    input_tokens = models.BigIntegerField(null=True)
    output_tokens = models.BigIntegerField(null=True)
    cache_read_tokens = models.BigIntegerField(null=True)
    cache_write_tokens = models.BigIntegerField(null=True)
    reasoning_tokens = models.BigIntegerField(null=True)
    usage_is_aggregate = models.BooleanField(default=False)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True)
    priced = models.BooleanField(default=False)
    unpriced_reason = models.TextField(null=True)
    reported_cost_usd = models.DecimalField(max_digits=20, decimal_places=10, null=True)
    tool_name = models.TextField(null=True)
    tool_call_id = models.TextField(null=True)
    # json, not jsonb: the payload's keys in the order the agent sent them (traces.fields).
    input = OrderedJSONField(null=True)
    output = OrderedJSONField(null=True)
    attributes = models.JSONField(default=dict)
    events = models.JSONField(default=list)
    convention = models.CharField(max_length=32)
    # Tags, metadata and span links, when the span had any.
    context = models.JSONField(null=True)

    class Meta:
        managed = False
        db_table = "traces_step"

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class RunHour(models.Model):
    """Rollup: the runs that started in one hour, per (agent, bundle, environment). Kept by traces.rollups
    from each run's last contribution (RunRollup): a changed run's difference is applied, so it is right
    whatever order spans arrived in.

    The histograms are sparse maps: latency bucket -> runs (bucket b holds [2^(b/8), 2^((b+1)/8)) ms,
    see traces.rollups.latency_bucket) and step count -> runs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    agent = models.CharField(max_length=200)
    bundle = models.CharField(max_length=200)
    environment = models.CharField(max_length=100)
    runs = models.IntegerField()
    errors = models.IntegerField()
    cost_usd = models.DecimalField(max_digits=24, decimal_places=10)
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    unpriced_steps = models.BigIntegerField()
    runs_with_unpriced = models.IntegerField()
    steps = models.BigIntegerField()
    tool_calls = models.BigIntegerField()
    latency_hist = models.JSONField(default=dict)
    steps_hist = models.JSONField(default=dict)
    # When the refresh (or page catch-up) that last changed the row started.
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "hour", "agent", "bundle", "environment"], name="runhour_project_hour_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent}/{self.bundle}/{self.environment} @ {self.hour:%Y-%m-%d %H}h"


class RunHourBreakdown(models.Model):
    """Rollup: per hour and (agent, bundle, environment), counts by end user, by model (LLM calls) and
    by tool (calls), with errors and cost. Steps count in the hour their run started in."""

    class Dim(models.TextChoices):
        USER = "user"
        MODEL = "model"
        TOOL = "tool"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    agent = models.CharField(max_length=200)
    bundle = models.CharField(max_length=200)
    environment = models.CharField(max_length=100)
    dim = models.CharField(max_length=8, choices=Dim.choices)
    key = models.TextField()
    count = models.BigIntegerField()
    errors = models.BigIntegerField()
    cost_usd = models.DecimalField(max_digits=24, decimal_places=10)

    class Meta:
        # The key the refresh upserts on (its leading columns serve the dashboards' reads by hour).
        constraints = [
            models.UniqueConstraint(
                fields=["project", "hour", "agent", "bundle", "environment", "dim", "key"],
                name="runhourbreakdown_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.dim} {self.key} @ {self.hour:%Y-%m-%d %H}h"


class RunHourUser(models.Model):
    """Rollup, internal: every end user's runs per hour and (agent, bundle, environment), from which the
    refresh keeps each group's top spenders in RunHourBreakdown (dim "user"). The dashboards do not read
    it: an hour may hold as many users as runs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    agent = models.CharField(max_length=200)
    bundle = models.CharField(max_length=200)
    environment = models.CharField(max_length=100)
    user_id = models.CharField(max_length=200)
    runs = models.IntegerField()
    errors = models.IntegerField()
    cost_usd = models.DecimalField(max_digits=24, decimal_places=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "hour", "agent", "bundle", "environment", "user_id"], name="runhouruser_key"
            )
        ]
        indexes = [
            # A group's top spenders, read in order: ten index entries, however many users the hour has.
            models.Index(
                "project",
                "hour",
                "agent",
                "bundle",
                "environment",
                models.F("cost_usd").desc(),
                models.F("runs").desc(),
                "user_id",
                name="runhouruser_top",
            )
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} @ {self.hour:%Y-%m-%d %H}h"


class RunRollup(models.Model):
    """What one run last contributed to the rollups (traces.rollups): its group, sums, histogram buckets
    and per-model and per-tool counts, as of the run's updated_at. A refresh applies new minus this to
    the rollup rows, then replaces it. No foreign key to the run: a run deleted by other means is
    retracted by a repair (traces.rollups.rebuild), not silently cascaded away.

    models: {model: [LLM calls, failed calls, cost]}; tools: {tool: [calls, failed calls]}."""

    run_id = models.BigIntegerField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    run_updated_at = models.DateTimeField()
    hour = models.DateTimeField()
    agent = models.CharField(max_length=200)
    bundle = models.CharField(max_length=200)
    environment = models.CharField(max_length=100)
    user_id = models.CharField(max_length=200)
    error = models.BooleanField()
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10)
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    unpriced_steps = models.IntegerField()
    steps = models.IntegerField()
    tool_calls = models.IntegerField()
    latency_bucket = models.IntegerField(null=True)
    models_used = models.JSONField(default=dict)
    tools_used = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"rollup of run {self.run_id}"


class RollupWatermark(models.Model):
    """One row: how far the last beat refresh saw (traces.rollups): the next one applies the runs
    changed since then. No row: the rollups and RunRollup have not been built yet, or must be rebuilt
    (the first refresh rebuilds them whole)."""

    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"rollups refreshed at {self.refreshed_at:%Y-%m-%d %H:%M:%S}"


class LogRecord(models.Model):
    """An OTLP log record that belongs to a span (POST /v1/logs). Attached to its step when read, not
    when stored: a record may arrive before its span, or after it.

    Unique by (project, trace, span, time, digest), the digest being a SHA-256 of the record as sent
    (traces.ingest.logs.digest): an exporter's retry inserts nothing twice. The key's index also serves
    the reads, which look up the records of one step or of a few steps of one run.

    body and attributes are payload (GenAI instrumentations put prompts and completions there): redacted
    at ingest by the project's policy, and shown only to callers who may see payloads.
    """

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    trace_id = models.UUIDField()
    span_id = models.BigIntegerField()  # signed 64-bit, as Step.span_id (traces.ids)
    time = models.DateTimeField()  # the record's time, else its observed time
    # The same, to the nanosecond: records of one call are often less than a microsecond apart, and are
    # shown in the order they were made.
    time_ns = models.BigIntegerField()
    observed_time = models.DateTimeField(null=True)
    severity_number = models.SmallIntegerField(default=0)
    severity_text = models.TextField(blank=True, default="")
    event_name = models.TextField(blank=True, default="")
    body = models.JSONField(null=True)
    attributes = models.JSONField(default=dict)
    scope_name = models.TextField(blank=True, default="")
    digest = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "trace_id", "span_id", "time", "digest"], name="logrecord_project_span_key"
            )
        ]

    def __str__(self) -> str:
        return f"log {self.event_name or self.severity_text or 'record'} @ {self.time:%Y-%m-%d %H:%M:%S}"
