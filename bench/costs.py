"""Cost report benchmark: the exact cost per customer of a month at a million runs.

    AGENTOPS_HOME=/tmp/costs-home python bench/costs.py [--runs 1000000] [--customers 50000] [--repeat 5]
        [--slug costs]

Seeds (once, when the project `--slug` does not exist yet) `--runs` runs over the last 30 days, written
straight to traces_run with INSERT ... SELECT generate_series (runs only: the report reads no steps),
with `--customers` end customers drawn from a skewed distribution (a few big, many small), 8 agents and
4 bundles; then ANALYZE. A project seeded by bench/seed_scale.py works too (pass its --slug).

Then times, `--repeat` times after a warm-up, median and p95 (ms):
- the reference, measured in the same run: `SELECT count(*)` of the project's runs in the month (the
  same index range, no grouping);
- the report by customer (agentops.costs.selectors.cost_rows, every group read), by customer and agent,
  and by agent;
- the CSV export by customer through the API (GET .../costs/?by=customer&format=csv, in-process Django
  test client, the whole streamed body read);
- the page /p/<slug>/costs/ of the current calendar month (customer x agent, at most 500 rows shown, and
  the month's totals): the seeded runs spread over the last 30 days, so the month holds part of them;
and prints each median as a multiple of the reference, and the plan of the by-customer query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402 (after django.setup)
from django.db import connection  # noqa: E402
from django.http import StreamingHttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from agentops.costs import selectors  # noqa: E402
from agentops.costs.query import CostQuery  # noqa: E402
from agentops.tenancy import services  # noqa: E402
from agentops.tenancy.models import Membership, Project, User  # noqa: E402
from agentops.tenancy.roles import Role  # noqa: E402

BENCH_USER = "bench-costs@example.com"
DAYS = 30

# Every NOT NULL column of traces_run gets a neutral value by its type; the columns the report reads
# are set from the series below. Built from the catalog so the seed keeps up with new columns.
_NEUTRAL = {
    "text": "''",
    "character varying": "''",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "numeric": "0",
    "boolean": "false",
    "jsonb": "'{}'::jsonb",
    "ARRAY": "'{}'",
    "timestamp with time zone": "now()",
    "uuid": "gen_random_uuid()",
}
_SET = {
    "project_id": "%(project)s",
    "trace_id": "gen_random_uuid()",
    "name": "'invoke_agent'",
    "agent": "'agent-' || (g %% 8)",
    "bundle": "'bundle-' || (g %% 4)",
    # Skewed: the square of a uniform draw puts many runs on the first customers, few on the last.
    "user_id": "'customer-' || floor(%(customers)s * power(random(), 2))::int",
    "session_id": "'s-' || g",
    "start_time": "%(now)s - random() * %(days)s * interval '1 day'",
    "end_time": "%(now)s",
    "root_ended": "true",
    "input_tokens": "(random() * 4000)::int",
    "output_tokens": "(random() * 800)::int",
    "cost_usd": "round((random() * 0.05)::numeric, 10)",
    "updated_at": "%(now)s",
}


def _seed(project: Project, runs: int, customers: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, column_default FROM information_schema.columns "
            "WHERE table_name = 'traces_run' AND is_nullable = 'NO' AND column_name <> 'id'"
        )
        columns = {name: (_SET.get(name) or _NEUTRAL[kind]) for name, kind, default in cursor.fetchall()}
        for name in ("agent", "bundle", "user_id", "session_id", "start_time", "end_time", "cost_usd"):
            columns.setdefault(name, _SET[name])
        sql = (
            f"INSERT INTO traces_run ({', '.join(columns)}) SELECT {', '.join(columns.values())} "
            "FROM generate_series(%(first)s, %(last)s) AS g"
        )
        began, batch = time.perf_counter(), 100_000
        for first in range(0, runs, batch):
            params: dict[str, Any] = {
                "project": project.pk,
                "customers": customers,
                "now": timezone.now(),
                "days": DAYS,
                "first": first,
                "last": min(first + batch, runs) - 1,
            }
            cursor.execute(sql, params)
            print(f"  seeded {min(first + batch, runs):,} runs ({time.perf_counter() - began:.0f} s)", flush=True)
        cursor.execute("ANALYZE traces_run")


def _project(slug: str, runs: int, customers: int) -> Project:
    found = Project.objects.filter(slug=slug).first()
    if found is not None:
        return found
    org = services.organization_create(name=f"bench {slug}")
    project = services.project_create(organization=org, name=slug)
    print(f"seeding {runs:,} runs of {customers:,} customers into {project.slug}")
    _seed(project, runs, customers)
    return project


def _viewer(project: Project) -> User:
    user = User.objects.filter(email=BENCH_USER).first() or User.objects.create_user(email=BENCH_USER, password=None)
    if not Membership.objects.filter(user=user, project=project).exists():
        services.membership_grant(user=user, project=project, role=Role.VIEWER)
    return user


def _time(work: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    result = work()  # warm-up
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slug", default="costs")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrations applied in {time.perf_counter() - began:.1f} s")
    project = _project(args.slug, args.runs, args.customers)
    now = timezone.now()
    start, end = now - timedelta(days=DAYS + 1), now + timedelta(minutes=1)

    def query(*by: str) -> CostQuery:
        return CostQuery(by=by, start=start, end=end)

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM traces_run WHERE project_id = %s AND start_time >= %s AND start_time < %s",
                [project.pk, start, end],
            )
            return int(cursor.fetchone()[0])

    client = Client()
    client.force_login(_viewer(project))
    csv_url = f"/api/v1/projects/{project.slug}/costs/?by=customer&from={start.isoformat()}&to={end.isoformat()}"

    def csv() -> int:
        response = cast(StreamingHttpResponse, client.get(csv_url.replace("+", "%2B") + "&format=csv"))
        assert response.status_code == 200, response.status_code
        return len(b"".join(cast(Iterator[bytes], response.streaming_content)))

    reference, reference_p95, runs = _time(count, args.repeat)
    print(f"\nproject {project.slug}: {runs:,} runs in the month\n")
    print(f"{'measure':<42}{'median ms':>10}{'p95 ms':>10}{'x ref':>8}  result")
    print(f"{'SELECT count(*) (reference)':<42}{reference:>10.1f}{reference_p95:>10.1f}{1:>8.1f}  {runs:,} runs")
    cases: list[tuple[str, Callable[[], object], str]] = [
        ("report by customer", lambda: list(selectors.cost_rows(project, query("customer"))), "groups"),
        ("report by customer, agent", lambda: list(selectors.cost_rows(project, query("customer", "agent"))), "groups"),
        ("report by agent", lambda: list(selectors.cost_rows(project, query("agent"))), "groups"),
        ("CSV by customer (API)", csv, "bytes"),
    ]
    page_url = f"/p/{project.slug}/costs/"

    def page() -> int:
        response = client.get(page_url)
        assert response.status_code == 200, response.status_code
        return len(response.content)

    cases.append(("page /costs/ (this month, cust x agent)", page, "bytes"))
    for label, work, unit in cases:
        median, p95, result = _time(work, args.repeat)
        size = len(result) if isinstance(result, list) else result
        print(f"{label:<42}{median:>10.1f}{p95:>10.1f}{median / reference:>8.1f}  {size:,} {unit}")

    grouped = selectors._runs(project, query("customer")).values("user_id").annotate(**selectors._SUMS)
    sql, params = grouped.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        print("\nplan of the report by customer:\n" + "\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
