"""Fixtures of the alerts tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def without_default_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Projects made in the test start with no rules, so that a test counts only the rules it made
    (every project otherwise starts with agentops.alerts.rules' defaults)."""
    monkeypatch.setattr("agentops.alerts.rules.ensure_default_rules", lambda project: [])
