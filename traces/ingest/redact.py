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
start with 1) stay readable. Custom patterns are RE2 (linear time: none can stall ingest); one that
matches the empty string, or that RE2 cannot run (lookaround, backreferences), is refused.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import re2
from ahocorasick_rs import BytesAhoCorasick

EMAIL = "email"
CARD = "card"
API_KEY = "api_key"
BUILTIN_RULES = frozenset({EMAIL, CARD, API_KEY})
CUSTOM = "custom"

# Each rule is its own pass. Measured on 1.5 KB messages, one alternation of every rule ran 3 to 10 times
# slower than separate passes: a pattern that starts with a literal is found by a fast scan in C, an
# alternation of them is tried branch by branch at every position.
# Each pattern is paired with a gate, a cheap test that every text holding a match passes: literals
# (all of a policy's are found in one Aho-Corasick pass over a batch's texts, see redact_texts) or a
# number of digits. Measured on the benchmark's batches (650 KB of JSON per 512 spans): the card
# pattern alone took 2.5-3 ms a batch, since re tests a leading character class char by char, and its
# digit count gate takes 0.4 ms; the six API-key patterns took 2.7 ms as separate str.find scans and
# 1.2 ms as one pass.
# A gate is the literals one of which every match contains, a number of digits every match holds, or
# None (custom patterns).
_Gate = tuple[str, ...] | int | None
_BUILTIN_PATTERNS: dict[str, tuple[tuple[str, _Gate], ...]] = {
    EMAIL: (
        # Anchored on a boundary before the local part so a run of word characters is scanned once.
        (
            r"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b",
            ("@",),
        ),
    ),
    CARD: (
        # Contiguous, or grouped as printed: 4-4-4-4(-3), Amex 4-6-5. Not preceded by a digit or dash.
        (
            r"[2-6](?<![\d-][2-6])(?:\d{12,18}|\d{3}(?:[ -]\d{4}){3}(?:[ -]\d{3})?|(?<=3)[47]\d{2}[ -]\d{6}[ -]\d{5})(?!\d)",
            13,
        ),
    ),
    API_KEY: (
        # OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-) keys: a word start, a digit somewhere,
        # so a slug like "risk-management-strategies-for-..." stays.
        (r"sk-(?<![\w-]sk-)(?=[\w-]*\d)[\w-]{32,}", ("sk-",)),
        (r"A[KS]IA[0-9A-Z]{16}\b", ("AKIA", "ASIA")),  # AWS access key ids
        (r"gh[pousr]_[A-Za-z0-9]{36,}", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),  # GitHub tokens
        (r"github_pat_\w{22,}", ("github_pat_",)),
        (r"xox[abprs]-[A-Za-z0-9-]{10,}", ("xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-")),  # Slack tokens
        # "Bearer <token>": the word stays, the token goes.
        (r"[Bb]earer (?=[\w.~+/-]*\d)[\w.~+/-]{16,}=*", ("Bearer ", "bearer ")),
    ),
}

_DIGITS = b"0123456789"
# Every byte but the digits and NUL (the separator of redact_texts).
_NOT_DIGIT_OR_NUL = bytes(b for b in range(256) if b not in b"0123456789\x00")


def _digit_count(text: str) -> int:
    # Two passes in C (encode, delete the digits) instead of a regex testing every character.
    data = text.encode("utf-8", "surrogatepass")
    return len(data) - len(data.translate(None, _DIGITS))


def _gate_open(gate: _Gate, text: str) -> bool:
    if gate is None:
        return True
    if type(gate) is tuple:
        return any(literal in text for literal in gate)
    return _digit_count(text) >= gate  # type: ignore[operator]


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


# Custom patterns run on RE2, which matches in time linear in the text: a user's pattern such as
# (a+)+$ took Python's re 1 s on 25 characters of one span (it backtracks), and would have stalled
# ingest; RE2 took 0.07 ms on 50,000. RE2 has no lookaround or backreferences, so such a pattern is
# refused when it is saved, with RE2's reason.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the reason is raised to the settings form, not printed to stderr


def _compile_custom(pattern: str) -> Any:
    try:
        compiled = re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"invalid redaction pattern {pattern!r}: {reason}") from None
    if compiled.fullmatch(""):
        raise ValueError(f"invalid redaction pattern {pattern!r}: it matches the empty string")
    return compiled


def unusable_patterns(patterns: Iterable[str]) -> dict[str, str]:
    """Each pattern that cannot run, with why: a policy saved before custom patterns ran on RE2 may
    hold one (a lookbehind, say) that Python's re accepted."""
    unusable = {}
    for pattern in patterns:
        try:
            _compile_custom(pattern)
        except ValueError as exc:
            unusable[pattern] = str(exc)
    return unusable


# One pass: the compiled pattern's sub, its replacement, and the gate it runs behind (None: always runs).
# Plain tuples, looped over inline in redact_text: a method call per pass per text cost more than the
# regex scans themselves.
_Pass = tuple[Callable[..., str], Callable[[re.Match[str]], str], _Gate]


@dataclass(frozen=True)
class RedactionPolicy:
    builtin: frozenset[str] = frozenset()
    custom: tuple[str, ...] = ()
    drop_content: bool = False
    _passes: tuple[_Pass, ...] = field(init=False, repr=False, compare=False, default=())
    # Every gate literal, and for each the passes it opens; with an automaton finding them all at once.
    _literals: tuple[tuple[str, tuple[int, ...]], ...] = field(init=False, repr=False, compare=False, default=())
    _automaton: Any = field(init=False, repr=False, compare=False, default=None)

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
        # Gated passes first, in both redact_text and redact_texts (which runs them text by text and the
        # others over all texts at once), so that both apply the rules in the same order.
        passes.sort(key=lambda one: one[2] is None)
        passes += [(_compile_custom(pattern).sub, _redacted_custom, None) for pattern in self.custom]
        object.__setattr__(self, "_passes", tuple(passes))
        opens: dict[str, list[int]] = {}
        for index, (_sub, _replacement, gate) in enumerate(passes):
            if type(gate) is tuple:
                for literal in gate:
                    opens.setdefault(literal, []).append(index)
        literals = tuple((literal, tuple(indexes)) for literal, indexes in opens.items())
        object.__setattr__(self, "_literals", literals)
        if literals:
            automaton = BytesAhoCorasick([literal.encode() for literal, _ in literals])
            object.__setattr__(self, "_automaton", automaton)

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
            if gate is None or _gate_open(gate, text):
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
    return _still_json(text, policy.redact_text(text), policy)


def _still_json(text: str, redacted: str, policy: RedactionPolicy) -> str:
    """`redacted`, the JSON document `text` redacted as text, if it is still valid JSON; else `text`
    redacted value by value (a match began on an escape's letter and took it)."""
    if redacted is text or redacted == text:
        return text
    try:
        json.loads(redacted)
    except ValueError:
        return json.dumps(_walk(json.loads(text), policy), ensure_ascii=False)
    return redacted


def redact_texts(texts: Sequence[str], policy: RedactionPolicy, *, json_texts: Sequence[bool]) -> list[str]:
    """Each text redacted as `redact_json_text` (where json_texts says so) or `policy.redact_text` would,
    with one scan per rule over all the texts instead of one per text.

    A batch holds thousands of short texts (attributes, previews): per text, the call overhead of every
    rule cost more than its scan. Here the texts are joined with NUL, and each rule runs only on the
    texts holding its gate: one of its literals (all found in one Aho-Corasick pass over the joined
    bytes; by `str.find` for the few non-ASCII texts) or its digits (counted for all texts with one
    `bytes.translate`). ASCII texts are joined apart from the others: one non-ASCII character makes a
    joined string two or four bytes a character, and its offsets no longer byte offsets. Custom
    patterns have no gate: with any, or with a text holding NUL, each text is redacted alone.
    """
    if not policy.has_rules:
        return list(texts)
    out = list(texts)
    if not policy.custom:
        ascii_: list[int] = []
        other: list[int] = []
        for i, text in enumerate(texts):
            (ascii_ if text.isascii() else other).append(i)
        for group in (ascii_, other):
            redacted = _redact_joined([texts[i] for i in group], policy)
            if redacted is None:
                break
            for i, text in zip(group, redacted, strict=True):
                out[i] = text
        else:
            return [_still_json(t, r, policy) if j else r for t, r, j in zip(texts, out, json_texts, strict=True)]
    return [redact_json_text(t, policy) if j else policy.redact_text(t) for t, j in zip(texts, json_texts, strict=True)]


def _redact_joined(texts: list[str], policy: RedactionPolicy) -> list[str] | None:
    """The texts redacted by policy.redact_text, finding which texts each rule must scan in the joined
    texts; None if a text holds NUL and the digits cannot be told apart per text."""
    if len(texts) < 2:
        return [policy.redact_text(text) for text in texts]
    joined = "\x00".join(texts)
    data = joined.encode("utf-8", "surrogatepass")
    starts = list(accumulate((len(t) + 1 for t in texts), initial=0))
    # Which texts each pass must scan: (pass index -> text indexes).
    hits: dict[int, set[int]] = {}
    if policy._literals:
        if len(data) == len(joined):  # ASCII: byte offsets are character offsets
            for pattern, start, _end in policy._automaton.find_matches_as_indexes(data, overlapping=True):
                text = bisect_right(starts, start) - 1
                for index in policy._literals[pattern][1]:
                    hits.setdefault(index, set()).add(text)
        else:
            for literal, indexes in policy._literals:
                for text in _texts_holding(literal, joined, starts):
                    for index in indexes:
                        hits.setdefault(index, set()).add(text)
    out = list(texts)
    for index, (sub, replacement, gate) in enumerate(policy._passes):
        # Every built-in pass has a gate (custom ones, which have none, never come here).
        if type(gate) is int:
            found = data.translate(None, _NOT_DIGIT_OR_NUL).split(b"\x00")
            if len(found) != len(texts):  # a text holds NUL: the split does not give the texts back
                return None
            scan: Iterable[int] = [i for i, digits in enumerate(found) if len(digits) >= gate]
        else:
            scan = sorted(hits.get(index, ()))
        for i in scan:
            out[i] = sub(replacement, out[i])
    return out


def _texts_holding(literal: str, joined: str, starts: list[int]) -> list[int]:
    """Indexes of the texts (starting at `starts` in `joined`) that contain `literal`."""
    found = []
    at = joined.find(literal)
    while at != -1:
        index = bisect_right(starts, at) - 1
        found.append(index)
        at = joined.find(literal, starts[index + 1])
    return found


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
