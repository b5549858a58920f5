"""Compare benchmark: the cost of aligning two runs by structure (traces.replay.compare_rows).

    python bench/compare.py [--steps 5000] [--repeat 5]

Pure Python, no database: the alignment is the only part of the compare page that grows faster than
the runs' steps. Two runs of an agent loop (LLM, tool, LLM, tool, ...) of `--steps` steps each, in four
cases: identical; one step inserted in the middle; different arguments at every tool (payloads
compared: a diff per tool row); and the worst case, a middle of traces.replay.MAX_ALIGNED steps that
match nothing in the other run. Prints the best of `--repeat` times for each, and its ratio to a
reference measured in the same run: pairing the two runs position by position and comparing each pair
(what compare did before it aligned by structure).

Prints figures; asserts nothing but that the alignments are the expected ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from itertools import zip_longest
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from traces import replay

Step = dict[str, Any]


def loop(steps: int, *, tag: str = "", args: str = "x") -> list[Step]:
    out: list[Step] = [{"span_id": "r", "kind": "AGENT", "name": "agent"}]
    for i in range(steps - 1):
        if i % 2 == 0:
            out.append({"span_id": f"l{i}", "kind": "LLM", "name": "chat gpt-4o", "model": "gpt-4o"})
        else:
            tool = f"tool{i % 7}{tag}"
            out.append({"span_id": f"t{i}", "kind": "TOOL", "name": f"execute_tool {tool}", "tool_name": tool,
                        "input": {"order": i, "q": args}, "output": {"ok": True}})  # fmt: skip
    return out


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def positional(a: list[Step], b: list[Step]) -> list[bool]:
    keys = ("kind", "name", "tool_name", "model", "input", "output")
    return [x is not None and y is not None and all(x.get(k) == y.get(k) for k in keys) for x, y in zip_longest(a, b)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    n = opts.steps
    a = loop(n)
    inserted = [*a[: n // 2], {"span_id": "g", "kind": "GUARDRAIL", "name": "guard"}, *a[n // 2 :]]
    other_args = loop(n, args="y")
    half = (n - replay.MAX_ALIGNED) // 2
    worst = [*a[:half], *loop(replay.MAX_ALIGNED + 1, tag="-other")[1:], *a[half + replay.MAX_ALIGNED :]]
    cases = {
        "identical": loop(n),
        "one step inserted": inserted,
        "every tool's arguments differ": other_args,
        f"worst: {replay.MAX_ALIGNED} unmatched steps": worst,
    }
    checks = {
        "identical": lambda rows: replay.first_divergence(rows) is None,
        "one step inserted": lambda rows: replay.first_divergence(rows) == n // 2 and len(rows) == n + 1,
        "every tool's arguments differ": lambda rows: (
            replay.first_divergence(rows) is None and sum(r.differs for r in rows) == (n - 1) // 2
        ),
        f"worst: {replay.MAX_ALIGNED} unmatched steps": lambda rows: replay.first_divergence(rows) == half,
    }
    print(f"compare_rows, two runs of {n:,} steps (best of {opts.repeat}):")
    for name, b in cases.items():
        rows = replay.compare_rows(a, b, payloads=True)
        assert checks[name](rows), name
        took = best(partial(replay.compare_rows, a, b, payloads=True), opts.repeat)
        reference = best(partial(positional, a, b), opts.repeat)
        print(f"  {name:40} {took * 1000:8.1f} ms   reference (positional) {reference * 1000:6.1f} ms"
              f"   ratio {took / reference:6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
