"""traces.ingest.redact: built-in and custom redaction rules, Luhn, the drop-content switch."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traces.ingest.redact import (
    BUILTIN_RULES,
    RedactionPolicy,
    _luhn_ok,
    is_content_key,
    redact_attributes,
    redact_content,
    redact_texts,
    redact_value,
)

ALL = RedactionPolicy.from_settings(builtin=BUILTIN_RULES)
EMAIL = RedactionPolicy.from_settings(builtin=["email"])
CARD = RedactionPolicy.from_settings(builtin=["card"])
KEYS = RedactionPolicy.from_settings(builtin=["api_key"])
OPENAI_KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 2
ANTHROPIC_KEY = "sk-ant-api03-" + "x7Y_k2-Q" * 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+travel@example.co.uk today", "write to [REDACTED:email] today"),
        ("<bob@mail.example.com>", "<[REDACTED:email]>"),
        ('{"email": "ALICE_99@Example.ORG"}', '{"email": "[REDACTED:email]"}'),
        ("two: a@b.io, c.d@e-f.com.", "two: [REDACTED:email], [REDACTED:email]."),
        ("not an address: user@localhost or @handle or a@b", "not an address: user@localhost or @handle or a@b"),
    ],
)
def test_email_addresses(text: str, expected: str) -> None:
    assert redact_value(text, EMAIL) == expected


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",  # Visa test number
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500 0000 0000 0004",  # Mastercard
        "2223000048400011",  # Mastercard 2-series
        "378282246310005",  # Amex, contiguous
        "3782 822463 10005",  # Amex, as printed
        "6011111111111117",  # Discover
        "4222222222222",  # 13-digit Visa
        "6250941006528599",  # UnionPay
        "4111 1111 1111 1111 003",  # 19 digits, grouped (Luhn-valid as a whole)
    ],
)
def test_card_numbers_that_pass_luhn_are_redacted(number: str) -> None:
    if number.endswith(" 003"):
        assert _luhn_ok(number.replace(" ", ""))
    assert redact_value(f"card {number}, thanks", CARD) == "card [REDACTED:card], thanks"


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 shipped",  # fails Luhn
        "4111 1111 1111 1112",
        "ts 1760000000000000000",  # a nanosecond timestamp (starts with 1)
        "id 12345678901234567890123",  # a long id, longer than any card
        "call +44 7700 900123 now",  # a phone number
        "version 4111111111111111111111",  # a card-valid prefix inside a longer number
        "uuid 9f8e7d6c-4111-1111-1111-111111111111",
    ],
)
def test_numbers_that_are_not_cards_stay(text: str) -> None:
    assert redact_value(text, CARD) == text


def test_card_followed_by_its_cvv_is_redacted_and_the_cvv_left() -> None:
    assert redact_value("4111 1111 1111 1111 123", CARD) == "[REDACTED:card] 123"


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("79927398713", True), ("79927398710", False), ("4111111111111111", True), ("0", True), ("18", True)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert _luhn_ok(digits) is valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key={OPENAI_KEY}", "key=[REDACTED:api_key]"),
        (f"OPENAI_API_KEY='sk-{'a1' * 24}'", "OPENAI_API_KEY='[REDACTED:api_key]'"),
        (f"x-api-key: {ANTHROPIC_KEY}", "x-api-key: [REDACTED:api_key]"),
        ("aws AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A", "aws [REDACTED:api_key] and [REDACTED:api_key]"),
        ("token ghp_" + "a" * 36, "token [REDACTED:api_key]"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "[REDACTED:api_key]"),
        ("slack xoxb-1234-5678-abcdEFGHijkl and xoxp-99887766-aa", "slack [REDACTED:api_key] and [REDACTED:api_key]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.s1gn", "Authorization: Bearer [REDACTED:api_key]"),
        ("authorization: bearer 0123456789abcdefABCDEF==", "authorization: bearer [REDACTED:api_key]"),
    ],
)
def test_api_key_shapes(text: str, expected: str) -> None:
    assert redact_value(text, KEYS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "risk-management-strategies-for-enterprise-systems-and-teams",  # "sk-" inside a word
        "sk-learn-classification-tutorial-for-beginners-guide",  # a slug, no digit
        "sk-short1",
        "the bearer of this letter is a friend of ours",
        "use a Bearer token in the Authorization header",
        "AKIA is the prefix of AWS access keys",
    ],
)
def test_api_key_lookalikes_stay(text: str) -> None:
    assert redact_value(text, KEYS) == text


def test_custom_patterns() -> None:
    policy = RedactionPolicy.from_settings(custom=[r"\bACME-\d{6}\b", r"(?i)project\s+falcon", r"a{6,}"])

    text = "ticket ACME-123456 about Project  Falcon, aaaaaaa"

    assert redact_value(text, policy) == "ticket [REDACTED:custom] about [REDACTED:custom], [REDACTED:custom]"


def test_builtin_and_custom_rules_together() -> None:
    policy = RedactionPolicy.from_settings(builtin=BUILTIN_RULES, custom=[r"\bemployee #\d+"])

    text = f"employee #42 (ann@corp.com) paid with 4111111111111111 using {OPENAI_KEY}"

    assert redact_value(text, policy) == (
        "[REDACTED:custom] ([REDACTED:email]) paid with [REDACTED:card] using [REDACTED:api_key]"
    )


def test_a_backtracking_custom_pattern_cannot_stall_ingest() -> None:
    # (a+)+$ against a's ending in another character: Python's re backtracks through 2^n ways (1 s at
    # n = 25 here, doubling with each a); RE2 reads the text once. The alarm turns a regression into a
    # failure instead of a CI run that never ends.
    policy = RedactionPolicy.from_settings(custom=[r"(a+)+$", r"(x|xx)+y"])
    text = "a" * 50_000 + "!" + " " + "x" * 50_000
    previous = signal.signal(signal.SIGALRM, _took_too_long)
    signal.alarm(60)
    try:
        assert redact_value(text, policy) == text
        assert redact_value("aaa", policy) == "[REDACTED:custom]"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _took_too_long(signum: int, frame: object) -> None:
    raise TimeoutError("a custom pattern backtracked")


def test_custom_zero_width_matches_hide_nothing() -> None:
    policy = RedactionPolicy.from_settings(custom=[r"\b"])

    assert redact_value("two words", policy) == "two words"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("([a-z]+", "invalid redaction pattern '([a-z]+': missing ): ([a-z]+"),
        ("a{2,1}", "invalid redaction pattern 'a{2,1}': invalid repetition size: {2,1}"),
        ("x*", "invalid redaction pattern 'x*': it matches the empty string"),
        # RE2 runs in linear time because it has neither: the reason says which construct it refused.
        (r"(\w)\1{5,}", r"invalid redaction pattern '(\\w)\\1{5,}': invalid escape sequence: \1"),
        (r"(?<=id=)\d+", r"invalid redaction pattern '(?<=id=)\\d+': invalid perl operator: (?<="),
    ],
)
def test_invalid_custom_pattern_is_a_value_error_naming_it(pattern: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        RedactionPolicy.from_settings(custom=["ok", pattern])
    assert str(caught.value) == message


def test_unknown_builtin_rule_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"unknown redaction rules \['phone'\]"):
        RedactionPolicy.from_settings(builtin=["email", "phone"])


def test_values_are_walked_recursively_and_other_types_pass() -> None:
    value: dict[str, Any] = {
        "messages": [{"role": "user", "content": "I am x@y.com"}, ("tuple", "a@b.co")],
        "a@b.co": 1,  # keys are left alone
        "n": 4111111111111111,  # only strings are searched
        "raw": b"z@z.com",
        "none": None,
        "ok": True,
    }

    assert redact_value(value, ALL) == {
        "messages": [{"role": "user", "content": "I am [REDACTED:email]"}, ("tuple", "[REDACTED:email]")],
        "a@b.co": 1,
        "n": 4111111111111111,
        "raw": b"z@z.com",
        "none": None,
        "ok": True,
    }
    assert value["messages"][0]["content"] == "I am x@y.com"  # the input is not modified


def test_policy_without_rules_returns_the_value_itself() -> None:
    value = {"content": "x@y.com"}

    assert redact_value(value, RedactionPolicy()) is value
    assert redact_attributes(value, RedactionPolicy()) is value
    assert RedactionPolicy().is_noop


def test_policies_compare_by_settings() -> None:
    assert RedactionPolicy.from_settings(builtin=["email"], custom=["a+"]) == RedactionPolicy(
        builtin=frozenset({"email"}), custom=("a+",)
    )


@pytest.mark.parametrize(
    ("key", "content"),
    [
        ("gen_ai.input.messages", True),
        ("gen_ai.prompt.0.content", True),
        ("llm.input_messages.0.message.content", True),
        ("input.value", True),
        ("traceloop.entity.output", True),
        ("gen_ai.tool.call.arguments", True),
        ("gen_ai.request.model", False),
        ("gen_ai.usage.input_tokens", False),
        ("input.mime_type", False),
        ("gen_ai.prompts_count", False),
        ("my.input.value", False),
    ],
)
def test_content_keys(key: str, content: bool) -> None:
    assert is_content_key(key) is content


def test_drop_content_removes_content_attributes_and_redacts_the_rest() -> None:
    policy = RedactionPolicy.from_settings(builtin=["email"], drop_content=True)
    attributes = {
        "gen_ai.input.messages": '[{"role": "user", "content": "hi"}]',
        "llm.output_messages.0.message.content": "bye",
        "gen_ai.request.model": "gpt-4o",
        "user.id": "pat@example.com",
    }

    assert redact_attributes(attributes, policy) == {"gen_ai.request.model": "gpt-4o", "user.id": "[REDACTED:email]"}
    assert redact_content("hello pat@example.com", policy) is None


def test_drop_content_alone() -> None:
    policy = RedactionPolicy.from_settings(drop_content=True)

    assert not policy.is_noop
    assert redact_attributes({"input.value": "x", "k": "a@b.co"}, policy) == {"k": "a@b.co"}
    assert redact_content({"role": "user"}, policy) is None


def test_content_is_redacted_when_kept() -> None:
    assert redact_content(["mail a@b.co"], EMAIL) == ["mail [REDACTED:email]"]


@pytest.mark.parametrize(
    "blob",
    ["A" * 1_000_000, "a.b-" * 250_000, "4" * 1_000_000, "sk-" + "a" * 1_000_000, "x@" + "a." * 500_000],
)
def test_long_runs_without_matches_are_left_alone(blob: str) -> None:
    # Shapes that make a careless e-mail or card pattern backtrack quadratically (minutes on 1 MB, such as a
    # base64 image in a message); these patterns scan each run once.
    assert redact_value(blob, ALL) == blob


# --- redact_texts: a batch's texts at once, as text by text ------------------------------------------

_SECRETS = [
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
    OPENAI_KEY,
    ANTHROPIC_KEY,
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a1B2" * 9,
    "github_pat_" + "x9" * 12,
    "xoxb-1234567890-abcdef",
    "Bearer abc.def-123456789012345",
]
_FILLER = st.text(alphabet='abc xyz-_.@:,0123456789é…\n"{}\x00IAgh', max_size=40)
_TEXT = st.lists(st.one_of(_FILLER, st.sampled_from(_SECRETS)), max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_TEXT, max_size=12), policy=st.sampled_from([ALL, EMAIL, CARD, KEYS]))
def test_redact_texts_equals_redacting_each_text_alone(texts: list[str], policy: RedactionPolicy) -> None:
    expected = [policy.redact_text(text) for text in texts]
    assert redact_texts(texts, policy, json_texts=[False] * len(texts)) == expected


def test_redact_texts_keeps_json_valid_and_falls_back_per_text() -> None:
    texts = [
        json.dumps({"to": "a@b.co", "card": "4111111111111111"}),
        "plain a@b.co",
        json.dumps(["\nbob@example.com"]),  # a match that starts on an escape's letter
        "no NUL here",
    ]
    out = redact_texts(texts, ALL, json_texts=[True, False, True, False])
    assert json.loads(out[0]) == {"to": "[REDACTED:email]", "card": "[REDACTED:card]"}
    assert out[1] == "plain [REDACTED:email]"
    assert json.loads(out[2]) == ["\n[REDACTED:email]"]
    assert out[3] == "no NUL here"


def test_redact_texts_with_nul_or_custom_patterns_redacts_each_text_alone() -> None:
    custom = RedactionPolicy.from_settings(builtin=["email"], custom=[r"a.b"])
    texts = ["xa\x00b a@b.co", "a", "b"]
    assert redact_texts(texts, custom, json_texts=[False] * 3) == [custom.redact_text(t) for t in texts]
    assert redact_texts(texts, ALL, json_texts=[False] * 3) == [ALL.redact_text(t) for t in texts]
