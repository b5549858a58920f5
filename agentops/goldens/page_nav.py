"""What every page of the golden sets area shares: its project tab is "Golden sets" (the sets, eval runs,
sampling rules and review queue all live under it; templates/goldens/_nav.html links them)."""

from __future__ import annotations

from typing import Any

GOLDENS_TAB: dict[str, Any] = {"tab": "goldens"}
