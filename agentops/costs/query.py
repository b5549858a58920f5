"""The parameters of a cost report, read from a query string: what to group by and over which period.

- `by`: one or more of customer, agent, bundle, comma-separated (`customer,agent` for the per customer
  and agent report); default customer.
- `from` / `to`: ISO 8601 dates or times (a time without offset is UTC; `from` inclusive, `to`
  exclusive); or `month=YYYY-MM`, the calendar month in UTC. Neither: the current month.
- `format`: json (default) or csv.

`cost_query(params, now)` raises CostQueryError naming the bad parameter; nothing else is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.http import QueryDict

from agentops.exports import moment

# Group name -> the column of traces_run. The customer is the run's end user (user.id).
GROUPS = {"customer": "user_id", "agent": "agent", "bundle": "bundle"}
FORMATS = ("json", "csv")


class CostQueryError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class CostQuery:
    by: tuple[str, ...]
    start: datetime  # inclusive
    end: datetime  # exclusive
    format: str = "json"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(GROUPS[g] for g in self.by)


def month_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC calendar month holding `day`, as [start, end)."""
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    end = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def parse_month(raw: str) -> tuple[datetime, datetime]:
    try:
        year, month = (int(part) for part in raw.split("-"))
        return month_bounds(date(year, month, 1))
    except ValueError:
        raise CostQueryError("month", "must be a month as YYYY-MM") from None


def _when(field: str, raw: str) -> datetime:
    found = moment(raw)
    if found is None:
        raise CostQueryError(field, "must be an ISO 8601 date or time")
    return found


def _by(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names or any(n not in GROUPS for n in names) or len(set(names)) != len(names):
        raise CostQueryError("by", f"must name one or more of {', '.join(GROUPS)}, comma-separated, each once")
    return names


def cost_query(params: QueryDict | dict[str, str], now: datetime) -> CostQuery:
    fmt = params.get("format") or "json"
    if fmt not in FORMATS:
        raise CostQueryError("format", f"must be one of {', '.join(FORMATS)}")
    by = _by(params.get("by") or "customer")
    raw_from, raw_to, raw_month = (params.get(n) or "" for n in ("from", "to", "month"))
    if raw_month.strip():
        if raw_from.strip() or raw_to.strip():
            raise CostQueryError("month", "give a month, or from and to, not both")
        start, end = parse_month(raw_month.strip())
    else:
        month_start, month_end = month_bounds(now.astimezone(UTC).date())
        start = _when("from", raw_from.strip()) if raw_from.strip() else month_start
        end = _when("to", raw_to.strip()) if raw_to.strip() else (now if raw_from.strip() else month_end)
        if end <= start:
            raise CostQueryError("to", "must be after from")
    return CostQuery(by=by, start=start, end=end, format=fmt)
