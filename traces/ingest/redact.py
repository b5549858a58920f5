"""Per-project redaction of step payloads before they are stored.

A `RedactionPolicy` is built from a project's settings: which built-in rules are on (`BUILTIN_RULES`:
e-mail addresses, payment card numbers, API keys and bearer tokens), custom regular expressions, and
`drop_content`, which removes message content (prompts, completions, tool arguments and results)
altogether. Patterns are compiled once, when the policy is built; an invalid custom pattern raises a
`ValueError` naming it, for the settings page to show.

`redact_value(value, policy)` walks str, list, tuple and dict values (dict keys are left alone) and
replaces each match with `[REDACTED:<rule>]`; other types pass through. `redact_attributes(attrs,
policy)` does the same for a span's attributes and, with `drop_content`, also removes the attributes
that carry message content (`is_content_key`), so the raw attributes kept beside a step cannot leak what
the switch hides.

Card numbers: 13 to 19 digits, contiguous or grouped as printed (spaces or dashes), starting 2-6 (every
major network) and passing the Luhn check, so order ids, phone numbers and nanosecond timestamps (which
start with 1) stay readable. A custom pattern that matches the empty string is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

EMAIL = "email"
CARD = "card"
API_KEY = "api_key"
BUILTIN_RULES = frozenset({EMAIL, CARD, API_KEY})
CUSTOM = "custom"

# Each rule is its own pass. Measured on 1.5 KB messages, one alternation of every rule ran 3 to 10 times
# slower than separate passes: a pattern that starts with a literal is found by a fast scan in C, an
# alternation of them is tried branch by branch at every position.
# A pattern that starts with a literal needs no gate: re's own prefix search is as fast as `in`. The
# others are paired with a gate, a cheap test that every text holding a match passes (None: they have a
# literal prefix). Measured on the benchmark's batches (650 KB of JSON per 512 spans): the card pattern
# alone took 2.5-3 ms a batch, since re tests a leading character class char by char; its digit count
# gate takes 0.4 ms.
_BUILTIN_PATTERNS: dict[str, tuple[tuple[str, Callable[[str], bool] | None], ...]] = {
    EMAIL: (
        # Anchored on a boundary before the local part so a run of word characters is scanned once.
        (
            r"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b",
            lambda text: "@" in text,
        ),
    ),
    CARD: (
        # Contiguous, or grouped as printed: 4-4-4-4(-3), Amex 4-6-5. Not preceded by a digit or dash.
        (
            r"[2-6](?<![\d-][2-6])(?:\d{12,18}|\d{3}(?:[ -]\d{4}){3}(?:[ -]\d{3})?|(?<=3)[47]\d{2}[ -]\d{6}[ -]\d{5})(?!\d)",
            lambda text: _digit_count(text) >= 13,
        ),
    ),
    API_KEY: (
        # OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-) keys: a word start, a digit somewhere,
        # so a slug like "risk-management-strategies-for-..." stays.
        (r"sk-(?<![\w-]sk-)(?=[\w-]*\d)[\w-]{32,}", None),
        (r"A[KS]IA[0-9A-Z]{16}\b", None),  # AWS access key ids
        (r"gh[pousr]_[A-Za-z0-9]{36,}", None),  # GitHub tokens
        (r"github_pat_\w{22,}", None),
        (r"xox[abprs]-[A-Za-z0-9-]{10,}", None),  # Slack tokens
        # "Bearer <token>": the word stays, the token goes.
        (r"[Bb]earer (?=[\w.~+/-]*\d)[\w.~+/-]{16,}=*", lambda text: "earer " in text),
    ),
}

_DIGITS = b"0123456789"


def _digit_count(text: str) -> int:
    # Two passes in C (encode, delete the digits) instead of a regex testing every character.
    data = text.encode("utf-8", "surrogatepass")
    return len(data) - len(data.translate(None, _DIGITS))


# Attributes that carry message content, per convention (see the reference fact sheet, section 2.2).
# A key matches when it equals one of these or continues it with a dot (llm.input_messages.0.message...).
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "llm.input_messages",
    "llm.output_messages",
    "llm.prompts",
    "llm.prompt_template.variables",
    "input.value",
    "output.value",
    "retrieval.documents",
    "embedding.embeddings",
    "traceloop.entity.input",
    "traceloop.entity.output",
    "langfuse.observation.input",
    "langfuse.observation.output",
    "langfuse.trace.input",
    "langfuse.trace.output",
    "pydantic_ai.all_messages",
    "all_messages_events",
    "final_result",
    "tool_arguments",
    "tool_response",
    "gen_ai.event.content",
)
_CONTENT_KEY = re.compile("(?:" + "|".join(re.escape(key) for key in CONTENT_KEYS) + r")(?:\..*)?", re.DOTALL)


def is_content_key(key: str) -> bool:
    return _CONTENT_KEY.fullmatch(key) is not None


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _compile_custom(pattern: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid redaction pattern {pattern!r}: {exc}") from None
    if compiled.fullmatch(""):
        raise ValueError(f"invalid redaction pattern {pattern!r}: it matches the empty string")
    return compiled


# One pass: the compiled pattern's sub, its replacement, and the gate it runs behind (None: always runs).
# Plain tuples, looped over inline in redact_text: a method call per pass per text cost more than the
# regex scans themselves.
_Pass = tuple[Callable[..., str], Callable[[re.Match[str]], str], Callable[[str], bool] | None]


@dataclass(frozen=True)
class RedactionPolicy:
    builtin: frozenset[str] = frozenset()
    custom: tuple[str, ...] = ()
    drop_content: bool = False
    _passes: tuple[_Pass, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        unknown = set(self.builtin) - BUILTIN_RULES
        if unknown:
            raise ValueError(f"unknown redaction rules {sorted(unknown)}; known: {sorted(BUILTIN_RULES)}")
        passes: list[_Pass] = [
            (re.compile(pattern).sub, _REPLACEMENTS[rule], gate)
            for rule, patterns in _BUILTIN_PATTERNS.items()
            if rule in self.builtin
            for pattern, gate in patterns
        ]
        passes += [(_compile_custom(pattern).sub, _redacted_custom, None) for pattern in self.custom]
        object.__setattr__(self, "_passes", tuple(passes))

    @classmethod
    def from_settings(
        cls, *, builtin: Iterable[str] = (), custom: Iterable[str] = (), drop_content: bool = False
    ) -> RedactionPolicy:
        return cls(builtin=frozenset(builtin), custom=tuple(custom), drop_content=drop_content)

    @property
    def has_rules(self) -> bool:
        return bool(self._passes)

    @property
    def is_noop(self) -> bool:
        return not self._passes and not self.drop_content

    def redact_text(self, text: str) -> str:
        for sub, replacement, gate in self._passes:
            if gate is None or gate(text):
                text = sub(replacement, text)
        return text


def _redacted_card(match: re.Match[str]) -> str:
    text = match.group()
    # A grouped number may have caught a trailing group that is not part of it ("4111 ... 1111 123", a
    # card and its CVV): try it without that group too.
    cut = max(text.rfind(" "), text.rfind("-"))
    for candidate in (text, text[:cut]) if cut > 0 else (text,):
        digits = candidate.replace(" ", "").replace("-", "")
        if len(digits) >= 13 and _luhn_ok(digits):
            return f"[REDACTED:{CARD}]" + text[len(candidate) :]
    return text


def _redacted_key(match: re.Match[str]) -> str:
    text = match.group()
    keep = text[:7] if text[:7] in ("Bearer ", "bearer ") else ""
    return f"{keep}[REDACTED:{API_KEY}]"


def _redacted_custom(match: re.Match[str]) -> str:
    return f"[REDACTED:{CUSTOM}]" if match.group() else ""  # a zero-width match hides nothing


_REPLACEMENTS: dict[str, Callable[[re.Match[str]], str]] = {
    EMAIL: lambda match: f"[REDACTED:{EMAIL}]",
    CARD: _redacted_card,
    API_KEY: _redacted_key,
}


def redact_value(value: Any, policy: RedactionPolicy) -> Any:
    """`value` with every match of the policy's rules replaced; untouched when the policy has no rules."""
    if not policy.has_rules:
        return value
    return _walk(value, policy)


def redact_json_text(text: str, policy: RedactionPolicy) -> str:
    """Redact a serialized JSON document in one pass per rule, instead of string by string.

    Walking a parsed message list costs a Python call per string and per rule; a pass over the whole
    document is a few C scans. It is exact for the built-in rules: none of their patterns matches a
    backslash, so a match cannot reach into an escape sequence, except by starting on an escape's
    letter ("\\nbob@example.com"). The result is therefore parsed again whenever something was replaced,
    and if it is not valid JSON the exact walk is used instead. Custom patterns are the user's own and
    may match quotes or escapes: with any, the exact walk is always used.
    """
    if not policy.has_rules:
        return text
    if policy.custom:
        return json.dumps(_walk(json.loads(text), policy), ensure_ascii=False)
    redacted = policy.redact_text(text)
    if redacted is text or redacted == text:
        return text
    try:
        json.loads(redacted)
    except ValueError:
        return json.dumps(_walk(json.loads(text), policy), ensure_ascii=False)
    return redacted


def _walk(value: Any, policy: RedactionPolicy) -> Any:
    if isinstance(value, str):
        return policy.redact_text(value)
    if isinstance(value, dict):
        return {key: _walk(item, policy) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, policy) for item in value]
    if isinstance(value, tuple):
        return tuple(_walk(item, policy) for item in value)
    return value


def redact_content(value: Any, policy: RedactionPolicy) -> Any:
    """A message payload (a step's input or output): None when the policy drops content, else redacted."""
    return None if policy.drop_content else redact_value(value, policy)


def redact_attributes(attributes: dict[str, Any], policy: RedactionPolicy) -> dict[str, Any]:
    """A span's attributes with content dropped (when the policy says so) and the rest redacted."""
    if policy.is_noop:
        return attributes
    if policy.drop_content:
        attributes = {key: value for key, value in attributes.items() if not is_content_key(key)}
    return redact_value(attributes, policy)
