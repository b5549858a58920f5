"""Golden set services: versions, immutable rows, cases from runs, import, pins and the audit trail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentops.goldens import selectors
from agentops.goldens.jsonl import export_lines, parse_import
from agentops.goldens.models import GoldenCase, GoldenSetVersion, ImmutableCase
from agentops.goldens.services import (
    case_add,
    case_edit,
    case_remove,
    cases_import,
    golden_set_create,
    golden_set_delete,
    golden_set_update,
)
from agentops.goldens.validation import GoldenConflict, GoldenError
from agentops.tenancy.audit import verify
from agentops.tenancy.models import AuditEvent
from tests.factories import make_run
from tests.otlp import AgentTrace
from traces.models import IngestPolicy

pytestmark = pytest.mark.django_db


def _set(personas, name="smoke"):
    return golden_set_create(project=personas.project, user=personas.engineer, data={"name": name})


def _add(golden_set, user, **data):
    return case_add(golden_set=golden_set, user=user, data={"input": "hi", **data}, payloads=True)


def _contents(golden_set, version):
    return [(c.case_key, c.input, c.expected_output, c.tags) for c in selectors.cases_at(golden_set, version)]


def test_every_change_makes_a_version_and_old_versions_read_back_unchanged(personas):
    engineer = personas.engineer
    golden_set = _set(personas)
    assert golden_set.version == 0 and _contents(golden_set, 0) == []
    a = _add(golden_set, engineer, input={"q": "a"}, expected_output="A", tags=["x"])
    b = _add(golden_set, engineer, input={"q": "b"})
    golden_set.refresh_from_db()
    assert golden_set.version == 2 and (a.added_in, b.added_in) == (1, 2)
    v2 = _contents(golden_set, 2)

    edited = case_edit(golden_set=golden_set, case_key=a.case_key, user=engineer, data={"expected_output": "A2"})
    assert edited is not None and edited.case_key == a.case_key and edited.added_in == 3
    assert case_remove(golden_set=golden_set, case_key=b.case_key, user=engineer) == 4
    golden_set.refresh_from_db()
    assert golden_set.version == 4

    assert _contents(golden_set, 1) == [(a.case_key, {"q": "a"}, "A", ["x"])]
    assert _contents(golden_set, 2) == v2
    # An edit keeps the case's place; a removal leaves it in the versions before.
    assert _contents(golden_set, 3) == [(a.case_key, {"q": "a"}, "A2", ["x"]), (b.case_key, {"q": "b"}, None, [])]
    assert _contents(golden_set, 4) == [(a.case_key, {"q": "a"}, "A2", ["x"])]
    assert [selectors.case_count_at(golden_set, n) for n in range(5)] == [0, 1, 2, 2, 1]
    versions = GoldenSetVersion.objects.filter(golden_set=golden_set).order_by("number")
    assert [(v.number, v.added, v.edited, v.removed) for v in versions] == [
        (1, 1, 0, 0),
        (2, 1, 0, 0),
        (3, 0, 1, 0),
        (4, 0, 0, 1),
    ]
    assert versions[2].note == f"edited case {a.case_key}: expected_output"
    assert versions[0].created_by == engineer


def test_an_edit_that_changes_nothing_makes_no_version(personas):
    golden_set = _set(personas)
    case = _add(golden_set, personas.engineer, tags=["t"])
    same = case_edit(golden_set=golden_set, case_key=case.case_key, user=personas.engineer, data={"tags": ["t"]})
    assert same == case
    golden_set.refresh_from_db()
    assert golden_set.version == 1
    assert case_edit(golden_set=golden_set, case_key="nope", user=personas.engineer, data={"tags": []}) is None
    assert case_remove(golden_set=golden_set, case_key="nope", user=personas.engineer) is None


def test_case_rows_are_immutable(personas):
    case = _add(_set(personas), personas.engineer)
    case.input = "changed behind the versions' back"
    with pytest.raises(ImmutableCase):
        case.save()
    with pytest.raises(ImmutableCase):
        case.save(update_fields=["input", "removed_in"])


def test_names_are_unique_per_project_in_any_case_and_checked(personas):
    _set(personas, "Smoke")
    with pytest.raises(GoldenConflict):
        _set(personas, "smoke")
    other = golden_set_create(project=personas.other_project, user=None, data={"name": "smoke"})
    assert other.name == "smoke"
    for bad in ["", "-lead", "a/b", "a b", "x" * 101, "<script>", "set@2", None, 5, "é"]:
        with pytest.raises(GoldenError) as caught:
            _set(personas, bad)
        assert caught.value.field == "name"
    renamed = golden_set_update(golden_set=_set(personas, "b"), user=None, data={"name": "b-2", "description": "x"})
    assert (renamed.name, renamed.description, renamed.version) == ("b-2", "x", 0)
    with pytest.raises(GoldenConflict):
        golden_set_update(golden_set=renamed, user=None, data={"name": "SMOKE"})


def test_bad_case_fields_are_named(personas):
    golden_set = _set(personas)
    cases = [
        ({}, "input"),
        ({"input": None}, "input"),
        ({"input": "x", "assertions": [{"type": "contains"}]}, "assertions[0].value"),
        ({"input": "x", "tags": ["ok", ""]}, "tags[1]"),
        ({"input": "x", "tags": "a"}, "tags"),
        ({"input": "x", "notes": 5}, "notes"),
        ({"input": "nul \x00 here"}, "input"),
        ({"input": "x", "expected": "y"}, "expected"),
        ({"input": "x", "source_span_id": "00" * 8}, "source_span_id"),
        ({"source_trace_id": "not-hex"}, "source_trace_id"),
        ({"source_trace_id": "ab" * 16}, "source_trace_id"),
        ({"input": "x" * 600_000}, "input"),
    ]
    for data, field in cases:
        with pytest.raises(GoldenError) as caught:
            case_add(golden_set=golden_set, user=None, data=data, payloads=True)
        assert caught.value.field == field, data
    golden_set.refresh_from_db()
    assert golden_set.version == 0 and not GoldenCase.objects.exists()


def test_a_case_from_a_run_takes_its_input_its_source_and_pins_it(personas):
    trace = make_run(personas.project, AgentTrace(tool_error=True))
    golden_set = _set(personas)
    case = case_add(
        golden_set=golden_set,
        user=personas.engineer,
        data={"source_trace_id": trace.trace_hex, "assertions": [{"type": "no_error"}]},
        payloads=True,
    )
    # The root span has no input: the first LLM step's messages are the run's input.
    messages: Any = case.input
    assert messages[1] == {"role": "user", "parts": [{"type": "text", "content": "Where is order 100?"}]}
    assert case.source_trace_id is not None and case.source_trace_id.hex == trace.trace_hex
    assert case.source_span_id is None
    assert (case.source_agent, case.source_status) == ("support-bot", "error")
    assert case.added_by == personas.engineer and case.reviewed_by == personas.engineer

    tool = trace.spans[-1]
    step_case = case_add(
        golden_set=golden_set,
        user=personas.engineer,
        data={"source_trace_id": trace.trace_hex, "source_span_id": tool.span_id.hex()},
        payloads=True,
    )
    assert step_case.input == {"order": 100}
    given = case_add(
        golden_set=golden_set,
        user=personas.engineer,
        data={"source_trace_id": trace.trace_hex, "input": "my own"},
        payloads=False,  # nothing is read from the run: no payload needed
    )
    assert given.input == "my own"
    with pytest.raises(GoldenError) as caught:
        case_add(golden_set=golden_set, user=None, data={"source_trace_id": trace.trace_hex}, payloads=False)
    assert caught.value.field == "input"

    # Every row pins its run, the removed ones too (old versions stay readable with their source).
    case_remove(golden_set=golden_set, case_key=case.case_key, user=None)
    assert list(selectors.pinned_trace_ids(personas.project)) == [case.source_trace_id]
    assert list(selectors.pinned_trace_ids(personas.other_project)) == []


def test_another_projects_run_is_no_source(personas):
    trace = make_run(personas.other_project)
    with pytest.raises(GoldenError) as caught:
        _add(_set(personas), None, source_trace_id=trace.trace_hex)
    assert caught.value.field == "source_trace_id"


def test_payloads_from_runs_follow_todays_redaction_rules(personas):
    trace = make_run(personas.project)
    IngestPolicy.objects.create(project=personas.project, custom_patterns=[r"order \d+"])
    case = case_add(golden_set=_set(personas), user=None, data={"source_trace_id": trace.trace_hex}, payloads=True)
    messages: Any = case.input
    assert messages[1]["parts"][0]["content"] == "Where is [REDACTED:custom]?"
    IngestPolicy.objects.filter(project=personas.project).update(drop_content=True)
    with pytest.raises(GoldenError, match="stores no content") as caught:
        case_add(golden_set=_set(personas, "b"), user=None, data={"source_trace_id": trace.trace_hex}, payloads=True)
    assert caught.value.field == "input"


def test_import_is_one_version_and_round_trips_an_export(personas):
    golden_set = _set(personas)
    first = _add(
        golden_set, personas.engineer, expected_output={"a": 1}, assertions=[{"type": "contains", "value": "x"}]
    )
    _add(golden_set, personas.engineer, input=["m"], tags=["t"], notes="n")
    exported = b"".join(export_lines(selectors.iter_cases(golden_set, 2)))
    assert exported.count(b"\n") == 2

    copy = _set(personas, "copy")
    result = cases_import(golden_set=copy, user=personas.engineer, cases=parse_import(exported))
    assert (result.version, result.added, result.edited, result.unchanged) == (1, 2, 0, 0)
    assert _contents(copy, 1) == _contents(golden_set, 2)
    assert [c.assertions for c in selectors.cases_at(copy)] == [c.assertions for c in selectors.cases_at(golden_set)]

    # The same file again changes nothing; one edited line and one new line make one version.
    assert cases_import(golden_set=copy, user=None, cases=parse_import(exported)).version == 1
    lines = [json.loads(line) for line in exported.splitlines()]
    lines[0]["expected_output"] = {"a": 2}
    lines.append({"input": "new"})
    body = "\n".join(json.dumps(line) for line in lines).encode()
    result = cases_import(golden_set=copy, user=None, cases=parse_import(body))
    assert (result.version, result.added, result.edited, result.unchanged) == (2, 1, 1, 1)
    before, after = selectors.case_at(copy, first.case_key, 1), selectors.case_at(copy, first.case_key, 2)
    assert before is not None and before.expected_output == {"a": 1}
    assert after is not None and after.expected_output == {"a": 2}


def test_import_errors_name_the_line(personas):
    cases = [
        (b'{"input": 1}\nnot json', "line 2"),
        (b'{"input": 1}\n[1]', "line 2"),
        (b'\n{"expected_output": 1}', "line 2: input"),
        (b'{"input": 1, "assertions": [{"type": "regex", "pattern": "("}]}', "line 1: assertions[0].pattern"),
        (b'{"input": 1, "case_key": "a"}\n{"input": 2, "case_key": "a"}', "line 2: case_key"),
        (b'{"input": 1, "case_key": "../x"}', "line 1: case_key"),
        (b'{"input": 1, "source": {"trace_id": "zz"}}', "line 1: source.trace_id"),
        (b'{"input": 1, "source": {"at": "yesterday"}}', "line 1: source.at"),
        (b'{"input": 1, "secret": 2}', "line 1: secret"),
        (b"\xff\xfe", "body"),
        (b"\n\n", "body"),
    ]
    for body, field in cases:
        with pytest.raises(GoldenError) as caught:
            parse_import(body)
        assert caught.value.field == field, body


def test_changes_are_audited_in_the_projects_chain(personas):
    golden_set = _set(personas)
    case = _add(golden_set, personas.engineer)
    case_edit(golden_set=golden_set, case_key=case.case_key, user=personas.engineer, data={"notes": "why"})
    case_remove(golden_set=golden_set, case_key=case.case_key, user=personas.engineer)
    cases_import(golden_set=golden_set, user=personas.engineer, cases=parse_import(b'{"input": 1}'))
    golden_set_delete(golden_set=golden_set, user=personas.engineer)
    events = AuditEvent.objects.filter(project=personas.project, target_type="golden_set").order_by("id")
    assert [e.action for e in events] == [
        "golden_set.create",
        "golden_case.add",
        "golden_case.edit",
        "golden_case.remove",
        "golden_set.import",
        "golden_set.delete",
    ]
    assert events[2].after == {"version": 2, "case_key": case.case_key, "fields": ["notes"]}
    assert all(e.actor == personas.engineer for e in events)
    assert verify(personas.project) is None
    assert not GoldenCase.objects.exists() and not GoldenSetVersion.objects.exists()
