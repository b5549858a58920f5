"""The README's compatibility table is the one the captured fixtures make (tests/fixtures/otlp/compat.py):
every row says what agentops showed of a real library's capture, and every captured case has a row."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.otlp import compat, loader

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- compat-table:begin -->", "<!-- compat-table:end -->"


def test_every_captured_case_has_a_library_row() -> None:
    assert set(loader.cases()) == set(compat.LIBRARIES)


def test_the_readme_table_is_what_the_fixtures_show() -> None:
    text = README.read_text()
    assert BEGIN in text and END in text, "the README lost its compatibility table markers"
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert shown == compat.table(), "regenerate: python tests/fixtures/otlp/compat.py, and paste into README.md"
