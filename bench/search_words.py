"""What collecting the runs' search words costs ingest's web worker (traces/ingest/words.py), in process.

    python bench/search_words.py [--batches 20] [--repeat 5]

1. On the ingest benchmark's traffic (bench/traffic.py: 512-span batches, every LLM call's input new
   random text): `run_words` per span, against the reference measured in the same run, the rest of the
   worker's work on those batches (decode + normalize + stage, once).
2. On conversations where each LLM call's input repeats the calls before it, as agents send them,
   against the same calls with every input new text of about the same size: how much of the cost the
   once-a-run reading of repeated pieces saves.

Best of --repeat for each figure. No database, no server.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.traffic import batches
from traces.ingest.columns import STAGE_COLUMNS
from traces.ingest.decode import decode_request
from traces.ingest.normalize import normalize_batch
from traces.ingest.redact import BUILTIN_RULES, RedactionPolicy
from traces.ingest.rows import ProjectConfig, stage
from traces.ingest.words import run_words

_AT = {name: i for i, name in enumerate(STAGE_COLUMNS)}
_WORDS = [
    "order",
    "refund",
    "shipping",
    "warehouse",
    "invoice",
    "customer",
    "ticket",
    "status",
    "address",
    "product",
    "delivery",
    "return",
]


def _best(work: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def _conversations(rng: random.Random, *, repeated: bool, runs: int = 300, calls: int = 6) -> list[list[Any]]:
    """Staged rows of LLM calls: each call's input the conversation so far (or, not `repeated`, as many
    messages of new text), its output an answer, then a tool result joins the conversation."""

    def text(words: int) -> str:
        return " ".join(rng.choice(_WORDS) + str(rng.randrange(1000)) for _ in range(words))

    def message(role: str, words: int) -> dict[str, Any]:
        return {"role": role, "parts": [{"type": "text", "content": text(words)}]}

    rows = []
    for run in range(runs):
        history = [message("system", 40), message("user", 60)]
        for _ in range(calls):
            if not repeated:
                history = [message("user", 30) for _ in history]
            answer = [message("assistant", 20)]
            row: list[Any] = [None] * len(STAGE_COLUMNS)
            row[_AT["project_id"]], row[_AT["trace_id"]] = 1, f"{run:032x}"
            row[_AT["input"]], row[_AT["output"]] = orjson.dumps(history).decode(), orjson.dumps(answer).decode()
            rows.append(row)
            history = [*history, *answer, message("tool", 12)]
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    config = ProjectConfig(project_id=1, redaction=RedactionPolicy(builtin=frozenset(BUILTIN_RULES)))
    bodies = list(batches(args.batches))
    started = time.perf_counter()
    staged = [
        stage(normalize_batch(decode_request(body, "application/x-protobuf").spans), config).rows for body in bodies
    ]
    reference = time.perf_counter() - started
    spans = sum(len(rows) for rows in staged)
    words = _best(lambda: [run_words(rows) for rows in staged], args.repeat)
    print(f"bench traffic: {spans:,} spans in {len(bodies)} batches")
    print(f"  decode + normalize + stage (reference)  {reference / spans * 1e6:7.1f} µs a span")
    print(f"  run_words                               {words / spans * 1e6:7.1f} µs a span "
          f"({words / reference:.2f} of the reference)")  # fmt: skip

    rng = random.Random(7)
    print("LLM calls (6 a run, 300 runs):")
    figures = {}
    for label, repeated in (("input repeats the conversation", True), ("input all new text", False)):
        rows = _conversations(rng, repeated=repeated)
        chars = sum(len(row[_AT["input"]]) + len(row[_AT["output"]]) for row in rows) / len(rows)
        figures[repeated] = _best(partial(run_words, rows), args.repeat) / len(rows)
        print(f"  {label:<32} {chars:6.0f} characters a call, run_words {figures[repeated] * 1e6:6.1f} µs a call")
    print(f"  repeated / new                          {figures[True] / figures[False]:.2f}")


if __name__ == "__main__":
    main()
