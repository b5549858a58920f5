"""UI benchmark: server time of the engineers' pages against a project seeded by bench/seed_scale.py.

    AGENTOPS_HOME=/tmp/h4-home python bench/ui.py [--slug scale] [--repeat 20]

Requests each page in-process through Django's test Client, logged in as an engineer of the project
(created on first use), and times the whole request: URL resolution, the tenancy check, every query and
the template. No network and no browser: this is the server's share of a page load. Pages:
- the run list: unfiltered, filtered by agent and status, and text searches: one run's order number,
  words of error messages (in runs' search documents only), order number prefixes matching 0.1% and 1%
  of the runs, and a word no run has;
- the replay page of the seeded 1,000-step run;
- the project dashboard over 7 and 30 days;
- the REST API's run list.
Each is requested `--repeat` times after one warm-up; prints the median and p95, the number of queries
one request made, and the target (list and replay < 300 ms, dashboards < 1 s). A page whose URL does
not exist yet is reported as "not built", one that raises as "failed". The reference, measured in the same run: a trivial page
(/healthz) and `SELECT count(*)` of the project's runs; each median is also given as a multiple of the
healthz median. Applies pending migrations first (the pages' indexes come with them) and says how long
that took.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402 (after django.setup)
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402

from agentops.tenancy import services  # noqa: E402
from agentops.tenancy.models import Membership, Project, User  # noqa: E402
from agentops.tenancy.roles import Role  # noqa: E402
from traces.models import Run  # noqa: E402

LIST_TARGET_MS = 300
DASHBOARD_TARGET_MS = 1000
BENCH_USER = "bench-ui@example.com"


@dataclass(frozen=True)
class Page:
    label: str
    names: tuple[str, ...]  # URL names to try, in order: the pages are built by several hands
    kwargs: dict[str, str]
    query: str
    target_ms: float | None


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    queries: int
    status: int
    kbytes: float  # size of the page: a sudden drop says a page rendered empty


def _engineer(project: Project) -> User:
    user = User.objects.filter(email=BENCH_USER).first() or services.user_create(email=BENCH_USER)
    if not Membership.objects.filter(user=user, project=project).exists():
        services.membership_grant(user=user, project=project, role=Role.ENGINEER)
    return user


def _url(page: Page) -> str | None:
    for name in page.names:
        try:
            return reverse(name, kwargs=page.kwargs) + (f"?{page.query}" if page.query else "")
        except NoReverseMatch:
            continue
    return None


def _time(request: Callable[[], tuple[int, int]], repeat: int) -> Timing:
    # Counted with an execute wrapper: the query log is emptied at each request's start.
    executed: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        executed.append(sql)
        return execute(sql, params, many, context)

    request()  # warm-up: caches, the plan cache, the first template compile
    # Queries of a steady-state request (the warm-up's may include one-off lookups); not timed.
    with connection.execute_wrapper(count):
        status, size = request()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        request()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return Timing(statistics.median(samples), p95, len(executed), status, size / 1024)


def _get(client: Client, url: str) -> Callable[[], tuple[int, int]]:
    def request() -> tuple[int, int]:
        response = client.get(url)
        return int(response.status_code), len(response.content)

    return request


def _count(project_id: int) -> Callable[[], tuple[int, int]]:
    def request() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM traces_run WHERE project_id = %s", [project_id])
            cursor.fetchone()
        return 200, 0

    return request


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", default="scale")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    # A failing page is reported in the table; its traceback in the request log would bury it.
    logging.getLogger("django.request").setLevel(logging.CRITICAL)

    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrations applied in {time.perf_counter() - began:.1f} s")
    project = Project.objects.get(slug=args.slug)
    runs = Run.objects.filter(project=project)
    long_run = runs.filter(step_count__gte=1000).order_by("-step_count").first()
    total = runs.count()
    middle = runs.order_by("-start_time").values_list("input_preview", flat=True)[total // 2]
    order = next((w.rstrip("?") for w in middle.split() if w.startswith("A-")), "shipped")
    print(f"project {project.slug}: {total:,} runs; search for {order!r}")

    client = Client()
    client.force_login(_engineer(project))
    slug = {"slug": project.slug}
    pages = [
        Page("run list", ("project_runs", "run_list"), slug, "", LIST_TARGET_MS),
        Page("run list, agent + status", ("project_runs", "run_list"), slug, "agent=support-bot&status=error", 300),
        Page("run list, text search", ("project_runs", "run_list"), slug, f"q={order}", LIST_TARGET_MS),
        # Search documents (every step's words): error messages are in 3% of runs and in no preview;
        # order numbers from A-0000 are 0.1% of runs (picked by id), from A-000 1% (the newest walked).
        Page("search: error words, 3%", ("project_runs", "run_list"), slug, "q=rate+limit", LIST_TARGET_MS),
        Page("search: prefix, 0.1%", ("project_runs", "run_list"), slug, "q=A-0000", LIST_TARGET_MS),
        Page("search: prefix, 1%", ("project_runs", "run_list"), slug, "q=A-000", LIST_TARGET_MS),
        Page("search: no run", ("project_runs", "run_list"), slug, "q=zebra", LIST_TARGET_MS),
        Page("replay, 1,000 steps", ("run_replay",), {}, "", LIST_TARGET_MS),
        Page("dashboard, 7 days", ("project_dashboard", "dashboard"), slug, "range=7d", DASHBOARD_TARGET_MS),
        Page("dashboard, 30 days", ("project_dashboard", "dashboard"), slug, "range=30d", DASHBOARD_TARGET_MS),
        Page("API run list", ("api_runs",), slug, "", None),
    ]
    if long_run is not None:
        replay = next(i for i, page in enumerate(pages) if page.names == ("run_replay",))
        pages[replay] = Page(
            pages[replay].label, pages[replay].names, {**slug, "trace_id": long_run.trace_id.hex}, "", 300
        )

    reference = _time(_get(client, "/healthz"), args.repeat)
    count = _time(_count(project.pk), args.repeat)
    print(f"\n{'page':<28}{'median ms':>10}{'p95 ms':>10}{'x healthz':>11}{'queries':>9}{'KB':>7}  target")
    print(f"{'healthz (reference)':<28}{reference.median_ms:>10.1f}{reference.p95_ms:>10.1f}{1:>11.1f}{'':>9}")
    print(f"{'SELECT count(*) runs':<28}{count.median_ms:>10.1f}{count.p95_ms:>10.1f}{'':>11}{'':>9}")
    for page in pages:
        url = _url(page) if page.kwargs else None
        if url is None:
            print(f"{page.label:<28}{'not built':>10}")
            continue
        try:
            timing = _time(_get(client, url), args.repeat)
        except Exception as exc:  # a page still being built: say so and measure the others
            print(f"{page.label:<28}{'failed':>10}  {type(exc).__name__}: {str(exc)[:80]}")
            continue
        ratio = timing.median_ms / reference.median_ms
        if timing.status != 200:
            verdict = f"HTTP {timing.status}"
        elif page.target_ms is None:
            verdict = "(no target)"
        else:
            met = "met" if timing.median_ms < page.target_ms else "MISSED"
            verdict = f"< {page.target_ms:.0f} ms: {met}"
        print(
            f"{page.label:<28}{timing.median_ms:>10.1f}{timing.p95_ms:>10.1f}{ratio:>11.1f}{timing.queries:>9}"
            f"{timing.kbytes:>7.0f}  {verdict}"
        )


if __name__ == "__main__":
    main()
