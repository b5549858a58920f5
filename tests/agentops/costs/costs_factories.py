"""Runs written straight to traces_run with chosen costs: the cost report sums the table, whatever
wrote it (bench/seed_scale.py writes runs the same way)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from traces.models import Run


def add_run(
    project,
    *,
    at: datetime,
    customer: str = "",
    agent: str = "bot",
    bundle: str = "",
    cost: str = "0",
    input_tokens: int = 0,
    output_tokens: int = 0,
) -> Run:
    return Run.objects.create(
        project=project,
        trace_id=uuid.uuid4(),
        start_time=at,
        user_id=customer,
        agent=agent,
        bundle=bundle,
        cost_usd=Decimal(cost),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
