"""What the golden set pages' forms send, turned into the data the services take.

The services validate (agentops.goldens.validation): these functions only parse the text a browser
sends (JSON in a textarea, tags separated by commas) and raise GoldenError naming the form's field when
the text is not what it says. `form_field(error.field)` maps the field a service names
(`assertions[2].value`, `line 3: input`, `name`) to the form field beside which the page shows it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import QueryDict

from agentops.goldens.validation import GoldenError
from traces import replay

FORM_FIELDS = ("set", "input", "expected_output", "assertions", "tags", "notes", "file", "cap")
_LEADING_NAME = re.compile(r"(?:line \d+: )?([a-z_]+)")


def form_field(service_field: str) -> str:
    """The form field an error of the services belongs beside ("form" when none fits)."""
    match = _LEADING_NAME.match(service_field)
    name = match.group(1) if match else ""
    if name in ("name", "description"):
        return "set"
    return name if name in FORM_FIELDS else "form"


def errors_of(exc: GoldenError) -> dict[str, str]:
    return {form_field(exc.field): f"{exc.field}: {exc.message}"}


def json_or_text(raw: str, as_text: bool, field: str) -> Any:
    """A textarea's value: None when empty, the text itself with `as_text`, else parsed JSON."""
    if not raw.strip():
        return None
    if as_text:
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise GoldenError(field, f"not valid JSON ({exc}); choose \u201ctext\u201d to keep it as text") from None


def shown(value: Any) -> tuple[str, bool]:
    """A value as a textarea shows it, and whether it is text (a JSON string is shown as its text)."""
    if value is None:
        return "", False
    if isinstance(value, str):
        return value, True
    return replay.pretty(value), False


def tags(raw: str) -> list[str]:
    return [t.strip() for t in raw.split(",") if t.strip()]


def assertions(checked: list[str], extra: str) -> list[Any]:
    """The suggested assertions kept (each a JSON object) followed by those typed as a JSON list."""
    out: list[Any] = []
    for raw in checked:
        try:
            out.append(json.loads(raw))
        except ValueError:
            raise GoldenError("assertions", "a suggested assertion was not JSON: reload the page") from None
    typed = json_or_text(extra, False, "assertions")
    if typed is None:
        return out
    if isinstance(typed, dict):
        typed = [typed]
    if not isinstance(typed, list):
        raise GoldenError("assertions", "give a JSON list of assertion objects")
    return out + typed


def case_data(post: QueryDict, *, with_input: bool = False) -> dict[str, Any]:
    """A case's fields from a promotion or edit form (see the templates' field names)."""
    data: dict[str, Any] = {
        "expected_output": json_or_text(
            post.get("expected_output", ""), post.get("expected_format") == "text", "expected_output"
        ),
        "assertions": assertions(post.getlist("assertion"), post.get("assertions", "")),
        "tags": tags(post.get("tags", "")),
        "notes": post.get("notes", ""),
    }
    if with_input:
        value = json_or_text(post.get("input", ""), post.get("input_format") == "text", "input")
        if value is not None:
            data["input"] = value
    return data


def cap(raw: str | None, default: int, most: int) -> int:
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise GoldenError("cap", f"give a number from 1 to {most}")
    return int(raw)
