"""Writes of a project's LLM judge settings (agentops.goldens.judge), and the settings page's test call.

The API key is write-only: a blank key keeps the one stored, `clear_key` removes it, and neither the
audit record nor any page ever holds it (the audit says only whether it changed). The base URL is only
checked for shape here; where it may point (never link-local, private only when allowed) is checked at
each call by agentops.goldens.judge, as a DNS name may change what it points to after it is saved.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from agentops.errors import FieldError
from agentops.goldens.judge import http_judge
from agentops.goldens.models import JudgeSettings
from agentops.goldens.scorers import Outcome
from agentops.tenancy.audit import audit_record
from agentops.tenancy.models import Project

MAX_TIMEOUT = 120.0
MIN_TIMEOUT = 1.0
TEST_RUBRIC = "The output is the single word: ok"


class JudgeSettingsError(FieldError):
    pass


def judge_settings(project: Project) -> JudgeSettings | None:
    return JudgeSettings.objects.filter(project=project).first()


def _base_url(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(text)
    if len(text) > 500 or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise JudgeSettingsError("base_url", "give the http(s) base URL of an OpenAI-compatible API, e.g. .../v1")
    return text.rstrip("/")


def _model(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(text) <= 200 or not text.isprintable():
        raise JudgeSettingsError("model", "name the model: 1 to 200 printable characters")
    return text


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JudgeSettingsError("timeout_seconds", "give a number of seconds")
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise JudgeSettingsError("timeout_seconds", f"give {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} seconds")
    return float(value)


def _key(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 500 or (value and not value.isprintable()):
        raise JudgeSettingsError("api_key", "give the key as printed by its provider (at most 500 characters)")
    return value.strip()


@transaction.atomic
def judge_settings_update(
    *,
    project: Project,
    user: Any,
    base_url: Any,
    model: Any,
    timeout_seconds: Any,
    api_key: Any = "",
    clear_key: bool = False,
) -> JudgeSettings:
    """Save the project's judge; a blank `api_key` keeps the stored one. Audited without the key."""
    cleaned = {"base_url": _base_url(base_url), "model": _model(model), "timeout_seconds": _timeout(timeout_seconds)}
    new_key = _key(api_key)
    config = JudgeSettings.objects.select_for_update().filter(project=project).first()
    before = None
    if config is None:
        config = JudgeSettings(project=project)
    else:
        before = {
            "base_url": config.base_url,
            "model": config.model,
            "timeout_seconds": config.timeout_seconds,
            "api_key": "set" if config.api_key else "none",
        }
    key_change = "kept"
    if clear_key:
        key_change = "cleared" if config.api_key else "kept"
        config.api_key = ""
    elif new_key and new_key != config.api_key:
        key_change = "changed"
        config.api_key = new_key
    for name, value in cleaned.items():
        setattr(config, name, value)
    config.save()
    after = {**cleaned, "api_key": key_change}
    audit_record(
        actor=user,
        action="judge_settings.update",
        target_type="judge_settings",
        target_id=config.pk,
        target_label=config.model,
        before=before,
        after=after,
        project=project,
    )
    return config


def judge_test(config: JudgeSettings) -> Outcome:
    """One tiny judge call with the saved settings: passed (or failed) means the endpoint answered as a
    judge must; error names what went wrong (unreachable, refused address, HTTP status, not JSON)."""
    return http_judge(config)(TEST_RUBRIC, "Say ok.", "ok", "ok")
