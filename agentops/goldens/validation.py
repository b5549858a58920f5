"""Checks of what people send for sets and cases, each failure a `GoldenError` naming the field.

Set names are what CI names a set by (`--set NAME[@VERSION]`) and what the URLs hold: 1 to 100 of
letters, digits, ".", "_" and "-", starting with a letter or digit. Case keys are the same alphabet, up to
64 characters. A case's input and expected output are any JSON; with its assertions, tags and notes a
case is at most MAX_CASE_BYTES of JSON, so one case cannot fill the database.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from agentops.errors import FieldError
from agentops.goldens.assertions import AssertionSpecError, validate_assertions
from traces.ids import span_from_hex, trace_from_hex

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
CASE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_DESCRIPTION = 2000
MAX_NOTES = 5000
MAX_TAGS = 20
MAX_TAG = 100
MAX_CASE_BYTES = 512 * 1024

# What a person may set on a case (the rest is the server's: key, versions, source details, who).
CASE_FIELDS = frozenset({"input", "expected_output", "assertions", "tags", "notes"})


class GoldenError(FieldError):
    """A bad value: `field` names it (`assertions[2].value`, `name`, `line 3: input`)."""


class GoldenConflict(GoldenError):
    """The value is fine but clashes with what exists (a set of that name)."""


def clean_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise GoldenError(field, 'give 1 to 100 letters, digits, ".", "_" or "-", starting with a letter or digit')
    return value


def clean_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise GoldenError("description", f"give text of at most {MAX_DESCRIPTION} characters")
    return value


def clean_case_key(value: Any, field: str = "case_key") -> str:
    if not isinstance(value, str) or not CASE_KEY.fullmatch(value):
        raise GoldenError(field, 'give 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit')
    return value


def clean_tags(value: Any, field: str = "tags") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise GoldenError(field, f"give a list of at most {MAX_TAGS} tags")
    for i, tag in enumerate(value):
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG or "\x00" in tag:
            raise GoldenError(f"{field}[{i}]", f"give a tag of 1 to {MAX_TAG} characters")
    return list(dict.fromkeys(t.strip() for t in value))


def clean_notes(value: Any, field: str = "notes") -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NOTES:
        raise GoldenError(field, f"give text of at most {MAX_NOTES} characters")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _no_nul(value: Any, field: str) -> None:
    # Postgres jsonb refuses \u0000 in strings: a 500 at save otherwise.
    if _has_nul(value):
        raise GoldenError(field, "text may not contain the NUL character (\\u0000)")


def clean_trace_id(value: Any, field: str = "source_trace_id") -> uuid.UUID:
    try:
        return trace_from_hex(value) if isinstance(value, str) else trace_from_hex("")
    except ValueError:
        raise GoldenError(field, "give a trace id: 32 hex characters") from None


def clean_span_id(value: Any, field: str = "source_span_id") -> int:
    try:
        return span_from_hex(value) if isinstance(value, str) else span_from_hex("")
    except ValueError:
        raise GoldenError(field, "give a span id: 16 hex characters") from None


def clean_case_fields(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The person-settable fields present in `data`, checked and canonical (absent ones stay absent)."""
    out: dict[str, Any] = {}
    for key in ("input", "expected_output"):
        if key in data:
            _no_nul(data[key], prefix + key)
            out[key] = data[key]
    if "assertions" in data:
        try:
            out["assertions"] = validate_assertions(data["assertions"], prefix + "assertions")
        except AssertionSpecError as exc:
            raise GoldenError(exc.field, exc.message) from None
        _no_nul(out["assertions"], prefix + "assertions")
    if "tags" in data:
        out["tags"] = clean_tags(data["tags"], prefix + "tags")
    if "notes" in data:
        out["notes"] = clean_notes(data["notes"], prefix + "notes")
        _no_nul(out["notes"], prefix + "notes")
    return out


def check_case_size(fields: dict[str, Any], field: str = "input") -> None:
    size = len(json.dumps({k: fields.get(k) for k in CASE_FIELDS}, ensure_ascii=False, default=str).encode())
    if size > MAX_CASE_BYTES:
        raise GoldenError(field, f"the case is {size} bytes of JSON; at most {MAX_CASE_BYTES}")
