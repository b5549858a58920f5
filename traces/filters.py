"""Run filters, parsed from query parameters: shared by the REST API and (later) the run list page.

Every parameter is optional; a bad value raises FilterError naming the parameter and what it takes,
which the API answers with 400.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import F, Q, QuerySet
from django.http import QueryDict
from django.utils.dateparse import parse_datetime

from traces.models import Run, RunStatus

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_COST_SCALE = Decimal("1e-10")  # traces_run.cost_usd is numeric(20, 10)
_COST_LIMIT = Decimal(10**10)
_MAX_DURATION_MS = 10**12  # some 31 years


class FilterError(ValueError):
    pass


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

    def apply(self, runs: QuerySet[Run]) -> QuerySet[Run]:
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
            runs = runs.filter(models_used__contains=[self.model])
        if self.tool:
            runs = runs.filter(tools_used__contains=[self.tool])
        if self.min_cost is not None:
            runs = runs.filter(cost_usd__gte=self.min_cost)
        if self.min_duration_ms is not None:
            runs = runs.filter(end_time__gte=F("start_time") + timedelta(milliseconds=self.min_duration_ms))
        return runs


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


def parse_filters(params: QueryDict) -> RunFilters:
    status = params.get("status") or None
    if status is not None and status not in RunStatus.values:
        raise FilterError(f"status must be one of {', '.join(RunStatus.values)}, not {status!r}")
    min_cost = None
    raw_cost = params.get("min_cost") or ""
    if raw_cost:
        try:
            min_cost = Decimal(raw_cost).quantize(_COST_SCALE)
        except InvalidOperation:
            min_cost = None
        # NaN, infinities and amounts beyond what the cost column holds would fail in SQL, not select.
        if min_cost is None or not min_cost.is_finite() or abs(min_cost) >= _COST_LIMIT:
            raise FilterError(f"min_cost must be a number of US dollars, not {raw_cost!r}")
    min_duration = None
    raw_duration = params.get("min_duration_ms") or ""
    if raw_duration:
        try:
            min_duration = int(raw_duration)
        except ValueError:
            min_duration = -1
        if not 0 <= min_duration <= _MAX_DURATION_MS:  # beyond, the interval overflows
            raise FilterError(
                f"min_duration_ms must be a whole number from 0 to {_MAX_DURATION_MS}, not {raw_duration!r}"
            )
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
        min_cost=min_cost,
        min_duration_ms=min_duration,
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
