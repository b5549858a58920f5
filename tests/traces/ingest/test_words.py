"""traces.ingest.words: the words a batch adds to each run's search document (pure, no database)."""

from __future__ import annotations

import json
from typing import Any

from traces.ingest import words
from traces.ingest.columns import STAGE_COLUMNS
from traces.ingest.words import MAX_WORD, MAX_WORDS, run_words

_AT = {name: i for i, name in enumerate(STAGE_COLUMNS)}
TRACE = "ab" * 16


def row(trace: str = TRACE, project: int = 1, **values: Any) -> list[Any]:
    staged: list[Any] = [None] * len(STAGE_COLUMNS)
    staged[_AT["project_id"]], staged[_AT["trace_id"]] = project, trace
    for name, value in values.items():
        staged[_AT[name]] = json.dumps(value) if name in ("input", "output") and value is not None else value
    return staged


def words_of(*rows: list[Any]) -> set[str]:
    (text,) = run_words(rows).values()
    return set(text.split())


def test_arguments_results_and_errors_are_words_keys_included():
    found = words_of(
        row(tool_name="lookup_order", input={"order_id": "ORD-7301", "qty": 3}, output={"status": "Backordered"}),
        row(error_type="TimeoutError", error_message="warehouse did not answer"),
    )
    assert {"lookup", "order", "ord", "7301", "3", "backordered", "timeouterror", "warehouse", "answer"} <= found
    assert {"id", "qty", "status"} <= found  # keys too: a search for an argument's name finds its runs
    assert "order_id" not in found and "ord-7301" not in found  # split as Postgres splits them


def test_escapes_are_not_words_and_nesting_is_read_at_any_depth():
    nested = row()
    # An escaped character makes the text parsed, nested past Python's recursion limit.
    nested[_AT["output"]] = "[" * 1000 + '"bur\\u0069ed"' + "]" * 1000
    found = words_of(row(input={"text": "line one\nline\ttwo été"}), nested)
    assert {"line", "one", "two", "été", "buried"} <= found
    assert "nline" not in found and "ttwo" not in found


def test_every_run_of_the_batch_has_its_own_words():
    other = "cd" * 16
    documents = run_words(
        [row(input="alpha"), row(trace=other, input="beta"), row(trace=other, project=2, input="gamma")]
    )
    assert documents == {(1, TRACE): "alpha", (1, other): "beta", (2, other): "gamma"}


def test_a_step_with_nothing_to_read_adds_no_document():
    assert run_words([row(input=None, output=None)]) == {}


def test_a_repeated_conversation_is_read_once(monkeypatch):
    """An LLM call's input holds the conversation so far: each message is read once a run."""
    history = [{"role": "user", "parts": [{"content": f"message number {i}"}]} for i in range(50)]
    read: list[bytes] = []
    add = words._Document._add

    def spy(document: words._Document, data: bytes, *, escaped: bool = False) -> None:
        read.append(data)
        add(document, data, escaped=escaped)

    monkeypatch.setattr(words._Document, "_add", spy)
    found = words_of(*(row(input=history[: k + 1]) for k in range(50)))
    assert {"message", "number", "user", "0", "49"} <= found
    for i in range(50):
        assert sum(data.count(f'"message number {i}"'.encode()) for data in read) == 1, i


def test_escapes_are_undone_whether_the_text_is_parsed_or_not():
    assert words_of(row(input={"a": 'one\ttwo "three"'})) >= {"one", "two", "three"}
    assert words_of(row(input={"a": "caf\u00e9 \u2014 menu"})) >= {"café", "menu"}


def test_a_data_url_is_not_read_even_with_its_slashes_escaped():
    escaped = row()
    escaped[_AT["input"]] = '[{"url": "data:image/png;base64,iVBO\\/Rw0KG\\/goAAAA"}, {"text": "caption"}]'
    assert words_of(escaped) == {"url", "text", "caption"}


def test_a_data_url_is_not_read():
    image = "data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk" * 50
    assert words_of(row(input=[{"type": "image_url", "url": image}, {"type": "text", "text": "what is this"}])) == {
        "type", "image", "url", "text", "what", "is", "this",
    }  # fmt: skip


def test_long_words_are_left_out_and_a_document_stops_growing_at_its_cap():
    blob = "x" * (MAX_WORD + 1)
    assert words_of(row(input=f"{blob} {'y' * MAX_WORD}")) == {"y" * MAX_WORD}
    many = " ".join(f"w{i}" for i in range(MAX_WORDS + 500))
    assert len(words_of(row(input=many), row(output="late words"))) == MAX_WORDS
