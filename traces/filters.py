"""Run filters, parsed from query parameters: shared by the REST API and the run list page.

Every parameter is optional; a bad value raises FilterError naming the parameter and what it takes,
which the API and the page answer with 400.

`q` searches the words of the run's steps: their inputs and outputs (tool arguments and results among
them), error types and messages and tool names (every word of q, each as a prefix, case-insensitive),
kept at ingest as one search document a run (traces.models.RunWords), and the run's previews, served by
GIN indexes; it costs two queries more (see _search). Previews and documents are payloads: a caller
without the payload permission who sends q gets a FilterError, not a silently unfiltered list.

`approval=pending` keeps the runs waiting for a reviewer: those with an approval request still pending
(agentops.approvals), found through the requests' indexes and narrowed as a rare model is (_narrowed).

`runaway=1` keeps the runs that went past their agent's step cap: those the runaway job recorded
(agentops.budgets.runaway), an EXISTS against that small table on its (project, trace_id) key, narrowed
the same way.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import BooleanField, CharField, Exists, F, OuterRef, Q, QuerySet, Subquery, UUIDField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, NullIf, Replace
from django.http import QueryDict
from django.utils.dateparse import parse_datetime

from agentops.approvals.models import ApprovalRequest
from agentops.budgets.models import RunawayRun
from traces.models import Run, RunStatus, RunWords

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_COST_SCALE = Decimal("1e-10")  # traces_run.cost_usd is numeric(20, 10)
_COST_LIMIT = Decimal(10**10)
_MAX_DURATION_MS = 10**12  # some 31 years
MAX_QUERY = 200
RARE_MATCHES = 2000  # see _search
_WORD = re.compile(r"[^\W_]+")  # letters and digits: how the text search parser splits words, near enough
# The words of a run's previews, spelled exactly as the index of migration 0012 (Postgres uses an
# expression index only for the same expression). agentops_search_words() turns every run of other
# characters into a space and splits letters from digits, so "ORD-7301" is the words "ORD" and "7301"
# (the parser alone read "-7301", a signed number, and dropped "<ORD-7301>" as a tag). 'simple': no
# stemming and no stop words, so ids, codes and names in any language are found as written.
RUN_SEARCH_VECTOR = "to_tsvector('simple'::regconfig, agentops_search_words(input_preview || ' ' || output_preview))"
# q's words, split the same way as the previews, each made a prefix (:*) so that the start of a word,
# an id being typed, finds its runs; but a word of one character is matched whole. As a prefix it matches
# a large share of all words (`a` of `A-0025389`: every word starting with a), whose index entries GIN
# reads in full before it intersects them: 50-80 ms an index at a million runs, against 0.2-1.1 ms for
# the word `a`. plainto_tsquery reads q as plain words: nothing typed can be taken for tsquery syntax.
_PREFIX_QUERY = (
    "to_tsquery('simple'::regconfig,"
    " regexp_replace(plainto_tsquery('simple'::regconfig, agentops_search_words(%s))::text,"
    " '''([^'']{2,})''( &|$)', '''\\1'':*\\2', 'g'))"
)


APPROVAL_CHOICES = ("pending",)
RUNAWAY_CHOICES = ("1",)


class FilterError(ValueError):
    pass


def approvals_of_outer_run() -> QuerySet[ApprovalRequest]:
    """The approval requests of the run an outer query is at (for Exists), by both of its indexes' keys.

    A request names its run by hex text, a run is a uuid. The two equal conditions let Postgres start
    from either side: from each run, the requests' (project, trace_id) index by the run's id as hex; from
    a few requests, the runs' (project, trace_id) index by the request's id as a uuid (NULLIF: a request
    tied to no run has "", which is no uuid).
    """
    return ApprovalRequest.objects.annotate(
        run_trace=Cast(NullIf("trace_id", Value("")), UUIDField()),
    ).filter(
        project_id=OuterRef("project_id"),
        trace_id=Replace(Cast(OuterRef("trace_id"), CharField()), Value("-"), Value("")),
        run_trace=OuterRef("trace_id"),
    )


@dataclass(frozen=True)
class RunFilters:
    start_from: datetime | None = None
    start_to: datetime | None = None
    status: str | None = None
    agent: str | None = None
    bundle: str | None = None
    environment: str | None = None
    model: str | None = None
    tool: str | None = None
    session: str | None = None
    user: str | None = None
    min_cost: Decimal | None = None
    min_duration_ms: int | None = None
    max_cost: Decimal | None = None
    max_duration_ms: int | None = None
    q: str | None = None
    approval: str | None = None
    runaway: bool = False

    def apply(self, runs: QuerySet[Run]) -> QuerySet[Run]:
        if self.q:
            runs = _search(runs, self.q)
        if self.approval == "pending":  # waiting for approval: few runs of many, as a rare model is
            pending = approvals_of_outer_run().filter(state=ApprovalRequest.State.PENDING)
            runs = _narrowed(runs, runs.filter(Exists(pending)))
        if self.start_from:
            runs = runs.filter(start_time__gte=self.start_from)
        if self.start_to:
            runs = runs.filter(start_time__lt=self.start_to)
        if self.status == RunStatus.ERROR:
            runs = runs.filter(error_count__gt=0)
        elif self.status == RunStatus.OK:
            runs = runs.filter(error_count=0, root_ended=True)
        elif self.status == RunStatus.UNFINISHED:
            runs = runs.filter(error_count=0, root_ended=False)
        exact = {
            "agent": self.agent,
            "bundle": self.bundle,
            "environment": self.environment,
            "session_id": self.session,
            "user_id": self.user,
        }
        runs = runs.filter(**{k: v for k, v in exact.items() if v is not None})
        if self.model:
            runs = _narrowed(runs, runs.filter(models_used__contains=[self.model]))
        if self.tool:
            runs = _narrowed(runs, runs.filter(tools_used__contains=[self.tool]))
        if self.min_cost is not None:
            runs = runs.filter(cost_usd__gte=self.min_cost)
        if self.min_duration_ms is not None:
            runs = runs.filter(end_time__gte=F("start_time") + timedelta(milliseconds=self.min_duration_ms))
        if self.max_cost is not None:
            runs = runs.filter(cost_usd__lte=self.max_cost)
        if self.max_duration_ms is not None:
            # A run with no end yet has no duration: not known to be short enough, it is left out.
            runs = runs.filter(end_time__lte=F("start_time") + timedelta(milliseconds=self.max_duration_ms))
        if self.runaway:
            # Past a step cap: few runs of many, as a rare model is. Last, so that the count that chooses
            # the plan is of runs matching every other filter too: runaways of one agent among many
            # runaways of another took 2.2 s counted before the agent filter (50,000 runaways of 200,000).
            recorded = RunawayRun.objects.filter(project_id=OuterRef("project_id"), trace_id=OuterRef("trace_id"))
            runs = _narrowed(runs, runs.filter(Exists(recorded)))
        return runs


def _search(runs: QuerySet[Run], q: str) -> QuerySet[Run]:
    """Runs with every word of q in their search document (traces.models.RunWords: all their steps'
    words) or in their previews (runs stored before documents were kept have only those), narrowed as
    `_narrowed` says, each index asked on its own: Postgres cannot serve an OR of two tables' indexes
    with one scan. `runs` are one project's, as every caller's are: the documents are asked for that
    project's only, so that another project's matches do not use up the RARE_MATCHES looked at."""
    in_previews = RawSQL(f"{RUN_SEARCH_VECTOR} @@ {_PREFIX_QUERY}", [q], BooleanField())
    in_document = RawSQL(f"words @@ {_PREFIX_QUERY}", [q], BooleanField())
    documents = RunWords.objects.filter(in_document)
    # Walked run by run when matches are many. A run's document holds its previews' words: it answers
    # when there is one, and the previews (their words computed, ~100 µs a run) only for runs stored
    # before documents were. A scalar subquery, not EXISTS: Postgres turned an EXISTS in this OR into a
    # hash of every matching document (212 ms for a word in 3% of a million runs; seconds for one in all).
    document_matches = RunWords.objects.filter(run_id=OuterRef("id")).values(matched=in_document)[:1]
    matches = runs.filter(Coalesce(Subquery(document_matches), in_previews, output_field=BooleanField()))
    by_preview = _rare(runs.filter(in_previews).order_by().values_list("id", flat=True))
    if by_preview is None:
        return matches
    of_project = documents.filter(project_id__in=runs.order_by().values("project_id")[:1])
    by_document = _rare(of_project.values_list("run_id", flat=True))
    if by_document is None:
        return matches
    return runs.filter(id__in=by_preview + by_document)


def _narrowed(runs: QuerySet[Run], matches: QuerySet[Run]) -> QuerySet[Run]:
    """`matches` (runs narrowed by a condition an index answers: text, models used, tools used), chosen
    by how many there are (one query to find out).

    Newest first with a LIMIT, Postgres either walks the recent-runs index testing each run, fast when
    matches are many, or reads the condition's index, fast when they are few; it cannot tell which from
    its statistics, and a wrong guess (walking a million runs for a word, or a model, none has) takes
    seconds. So the condition's index is asked first, for at most RARE_MATCHES runs: if that is all there
    are, the page is picked among their ids; if there are more, matches are dense and the walk finds a
    page at once.
    """
    found = _rare(matches.order_by().values_list("id", flat=True))
    return matches if found is None else runs.filter(id__in=found)


def _rare(ids: QuerySet[Any, int]) -> list[int] | None:
    """All of `ids` if there are at most RARE_MATCHES of them, else None (see _narrowed)."""
    found = list(ids[: RARE_MATCHES + 1])
    return found if len(found) <= RARE_MATCHES else None


def _datetime(params: QueryDict, name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:  # well formed but no such date or time: 2026-02-30
        value = None
    if value is None:
        raise FilterError(f"{name} must be an ISO 8601 date-time such as 2026-11-22T10:00:00Z, not {raw!r}")
    if value.tzinfo is None:
        raise FilterError(f"{name} needs a time zone (add Z for UTC): {raw!r}")
    return value


@dataclass(frozen=True)
class DatePreset:
    """A time range the run list offers as one click: `start_from` (and `start_to`, None for "until
    now"), UTC as the list reads them."""

    label: str
    start_from: datetime
    start_to: datetime | None = None


def date_presets(now: datetime) -> list[DatePreset]:
    """Last hour, today, yesterday and the last 7 days, as of `now`; days are UTC days, as the list
    shows times."""
    now = now.astimezone(UTC).replace(microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    return [
        DatePreset("Last hour", now - timedelta(hours=1)),
        DatePreset("Today", midnight),
        DatePreset("Yesterday", midnight - timedelta(days=1), midnight),
        DatePreset("Last 7 days", now - timedelta(days=7)),
    ]


def _cost(params: QueryDict, name: str) -> Decimal | None:
    raw = params.get(name) or ""
    if not raw:
        return None
    try:
        cost = Decimal(raw).quantize(_COST_SCALE)
    except InvalidOperation:
        cost = None
    # NaN, infinities and amounts beyond what the cost column holds would fail in SQL, not select.
    if cost is None or not cost.is_finite() or abs(cost) >= _COST_LIMIT:
        raise FilterError(f"{name} must be a number of US dollars, not {raw!r}")
    return cost


def _duration(params: QueryDict, name: str) -> int | None:
    raw = params.get(name) or ""
    if not raw:
        return None
    try:
        duration = int(raw)
    except ValueError:
        duration = -1
    if not 0 <= duration <= _MAX_DURATION_MS:  # beyond, the interval overflows
        raise FilterError(f"{name} must be a whole number from 0 to {_MAX_DURATION_MS}, not {raw!r}")
    return duration


def _query(params: QueryDict, *, payloads: bool) -> str | None:
    q = (params.get("q") or "").strip()
    if not q:
        return None
    if not payloads:
        raise FilterError("q searches run inputs and outputs, which your role may not see")
    if len(q) > MAX_QUERY:
        raise FilterError(f"q must be at most {MAX_QUERY} characters long, not {len(q)}")
    if not _WORD.search(q):
        raise FilterError(f"q must contain a word (letters or digits) to search for, not {q!r}")
    return q


def parse_filters(params: QueryDict, *, payloads: bool = False) -> RunFilters:
    """The filters in `params`; `payloads` says whether the caller may search inputs and outputs (q)."""
    status = params.get("status") or None
    if status is not None and status not in RunStatus.values:
        raise FilterError(f"status must be one of {', '.join(RunStatus.values)}, not {status!r}")
    approval = params.get("approval") or None
    if approval is not None and approval not in APPROVAL_CHOICES:
        raise FilterError(f"approval must be {' or '.join(APPROVAL_CHOICES)}, not {approval!r}")
    runaway = params.get("runaway") or None
    if runaway is not None and runaway not in RUNAWAY_CHOICES:
        raise FilterError(f"runaway must be 1 (runs past their step cap), not {runaway!r}")
    return RunFilters(
        start_from=_datetime(params, "from"),
        start_to=_datetime(params, "to"),
        status=status,
        agent=params.get("agent") or None,
        bundle=params.get("bundle") or None,
        environment=params.get("environment") or None,
        model=params.get("model") or None,
        tool=params.get("tool") or None,
        session=params.get("session") or None,
        user=params.get("user") or None,
        min_cost=_cost(params, "min_cost"),
        min_duration_ms=_duration(params, "min_duration_ms"),
        max_cost=_cost(params, "max_cost"),
        max_duration_ms=_duration(params, "max_duration_ms"),
        q=_query(params, payloads=payloads),
        approval=approval,
        runaway=runaway is not None,
    )


def parse_limit(params: QueryDict) -> int:
    raw = params.get("limit")
    if not raw:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise FilterError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise FilterError(f"limit must be from 1 to {MAX_LIMIT}, not {limit}")
    return limit


# Keyset pagination over (start_time, id), newest first: a page costs the same however deep it is,
# and runs arriving meanwhile do not shift the pages.
def encode_cursor(run: Run) -> str:
    raw = f"{run.start_time.isoformat()}|{run.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_cursor(params: QueryDict) -> tuple[datetime, int] | None:
    raw = params.get("cursor")
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        stamp, pk = text.split("|")
        moment = parse_datetime(stamp)
        if moment is None:
            raise ValueError(stamp)
        return moment, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise FilterError("cursor is not one this API gave out; start again without it") from None


def page(runs: QuerySet[Run], cursor: tuple[datetime, int] | None, limit: int) -> tuple[list[Run], str | None]:
    if cursor is not None:
        moment, pk = cursor
        runs = runs.filter(Q(start_time__lt=moment) | Q(start_time=moment, id__lt=pk))
    items = list(runs.order_by("-start_time", "-id")[: limit + 1])
    more = len(items) > limit
    items = items[:limit]
    return items, (encode_cursor(items[-1]) if more and items else None)
