"""What one batch's new steps add to their runs' search documents: the distinct words of each run.

Search finds a run by any word of its steps' inputs, outputs (tool arguments and results among them),
error types and messages and tool names, not only of the run's previews. Pure, like traces.ingest.runs:
from the staged rows the store has just inserted, so a retried batch adds nothing, and from the texts as
stored, after redaction: a redacted e-mail address must not find the run it was taken out of.

Only the words are collected here, where the batch already is; Postgres tokenizes them for the index
(traces.ingest.store, with agentops_search_words(), as the query is), so this only has to make the text
short: split at ASCII punctuation and spaces, lower-cased, each word once a run. Sent whole, the bench's
text cost Postgres 176-231 µs a span to tokenize; split here, 10-11 µs of the web worker's. JSON is read as
text, not parsed (parsing cost as much again): its keys are words too (a search for an argument's name
finds the runs that passed it), and `true`, `false` and `null`. An LLM call's input repeats the
messages of the calls before it: cut where a list's objects meet, each piece is read once a run.

Bounded, so that no payload makes a document Postgres refuses (a tsvector holds at most 1 MB) or one that
costs more than its steps: base64 data URLs (an image sent to a model) are not read, words longer than
MAX_WORD bytes (UTF-8) are left out, and a run's document stops growing at MAX_WORDS words (the store caps
the merged document too).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from traces.ingest.columns import STAGE_COLUMNS

MAX_WORDS = 20_000
MAX_WORD = 64

# Work on UTF-8 bytes: splitting them at ASCII punctuation and spaces, lower-casing ASCII, cost 10 µs a
# span where the same on str cost 16 (bench traffic); a multi-byte character is never split, and
# Postgres lower-cases the rest.
_SEPARATORS = (string.punctuation + string.whitespace).encode()
_SPACES = bytes.maketrans(_SEPARATORS, b" " * len(_SEPARATORS))
# Where a list's objects meet: `},{` as orjson writes it, `}, {` as Python's json.dumps does.
_BETWEEN_OBJECTS = re.compile(rb"\}\s*,\s*\{")
_ESCAPE = re.compile(rb"\\.")  # \n, \t, \": an escape in JSON text is no letter of a word
_DATA_URL = re.compile(rb"data:[\w.+/-]*;base64,[\w+/=\\]*")

_AT = {name: i for i, name in enumerate(STAGE_COLUMNS)}
_PROJECT, _TRACE = _AT["project_id"], _AT["trace_id"]
_JSON = tuple(_AT[name] for name in ("input", "output"))
_TEXT = tuple(_AT[name] for name in ("error_type", "error_message", "tool_name"))


class _Document:
    __slots__ = ("seen", "words")

    def __init__(self) -> None:
        self.seen: set[bytes] = set()  # texts and pieces of JSON text already read
        self.words: set[bytes] = set()

    def full(self) -> bool:
        return len(self.words) >= MAX_WORDS

    def read(self, text: str) -> None:
        self._read(text.encode("utf-8", "replace"))  # "replace": a lone surrogate is no word

    def _read(self, data: bytes) -> None:
        if data in self.seen or self.full():
            return
        self.seen.add(data)
        self._add(data)

    def _add(self, data: bytes, *, escaped: bool = False) -> None:
        if b"base64," in data:
            data = _DATA_URL.sub(b" ", data)
        if escaped and b"\\" in data:  # after the data URLs, whose base64 may hold an escaped slash
            data = _ESCAPE.sub(b" ", data)
        self.words.update(data.lower().translate(_SPACES).split())

    def read_json(self, text: str) -> None:
        if self.full():
            return
        if "\\u" in text:  # an escaped character (\u00e9 of café): only parsing reads it right
            self._read_parsed(text)
            return
        seen = self.seen
        # Without the brackets around them, the pieces of a message are the same first, inside or last.
        pieces = [piece.strip(b"[]{} ") for piece in _BETWEEN_OBJECTS.split(text.encode("utf-8", "replace"))]
        pieces = [piece for piece in pieces if piece not in seen]
        if pieces:
            seen.update(pieces)
            self._add(b" ".join(pieces), escaped=True)  # one pass over the new pieces: a call each cost more

    def _read_parsed(self, text: str) -> None:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:  # stored as json, so never expected; the text is still words
            self.read(text)
            return
        # A stack, not recursion: orjson reads JSON nested 1,024 deep, past Python's recursion limit.
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                self.read(item)
            elif isinstance(item, dict):
                self.read(" ".join(item))  # keys are words, as they are of JSON read as text
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif item is not None:  # numbers, and true and false as in text
                self._read(orjson.dumps(item))


def run_words(rows: Iterable[Sequence[Any]]) -> dict[tuple[int, str], str]:
    """The words the rows (staged, newly stored) add to each run, by (project id, trace id in hex),
    space-separated; runs whose new steps hold no words are left out."""
    documents: dict[tuple[int, str], _Document] = {}
    for row in rows:
        run = (row[_PROJECT], row[_TRACE])
        document = documents.get(run)
        if document is None:
            document = documents[run] = _Document()
        for i in _TEXT:
            if row[i]:
                document.read(row[i])
        for i in _JSON:
            if row[i] is not None:
                document.read_json(row[i])
    # One text read whole can take a document past MAX_WORDS: the first words in order are kept.
    return {run: _joined(document.words) for run, document in documents.items() if document.words}


def _joined(words: set[bytes]) -> str:
    return b" ".join(sorted(word for word in words if len(word) <= MAX_WORD)[:MAX_WORDS]).decode()
