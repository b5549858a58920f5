"""`agentops eval` gating a Node.js agent (examples/evals/agent.mjs, the OpenTelemetry JS SDK exporting over
OTLP/HTTP JSON) against a real `agentops web`: the agent passes, then each regression a change to it can
bring (the wrong tool, an extra tool call, a missing tool call, a wrong answer) fails the gate, and the
JUnit file and the Markdown summary name the case, the failed assertion and link to the run.

The Node project is examples/evals (exact pins in its package-lock.json); `npm ci` runs when its
node_modules is missing. Skipped when node or npm is not on the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agentops.goldens.services import case_add, golden_set_create
from tests.agentops.goldens.test_eval_cli import _healthy, evaluate
from tests.factories import make_project
from tests.traces.conftest import make_engineer, setup_for
from tests.traces.servers import serve

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "evals"
ASSERTIONS = [
    {"type": "equals", "value": "shipped"},
    {"type": "tools_called", "tools": ["lookup_order"], "exact": True},
]
NODE, NPM = shutil.which("node"), shutil.which("npm")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are needed to run the Node.js example"),
]


@pytest.fixture(scope="module")
def node_example() -> Path:
    if not (EXAMPLE / "node_modules").is_dir():
        subprocess.run([str(NPM), "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, check=True, timeout=600)
    return EXAMPLE / "agent.mjs"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "cli-home"
    path.mkdir()
    return path


def test_the_node_agent_passes_and_each_kind_of_regression_fails_the_gate_naming_case_and_assertion(
    node_example: Path, transactional_db: None, tmp_path: Path, home: Path
) -> None:
    project = make_project()
    setup = setup_for(project, make_engineer(project))
    golden_set = golden_set_create(project=project, user=None, data={"name": "smoke"})
    first, second = (
        case_add(
            golden_set=golden_set,
            user=None,
            data={"input": {"question": f"where is order {i}?"}, "assertions": ASSERTIONS},
            payloads=True,
        ).case_key
        for i in range(2)
    )
    junit_file, summary_file = tmp_path / "junit.xml", tmp_path / "summary.md"
    common = ("--project", project.slug, "--set", "smoke", "--concurrency", "2", "--wait-traces", "60")

    def agent(regress: str = "") -> str:
        return f"env EVAL_AGENT_REGRESS={regress} {NODE} {node_example}"

    with serve("web", tmp_path / "web-home", "--workers", "1", "--threads", "2", ready=_healthy) as web:
        url = web.url("").rstrip("/")

        def gate(bundle: str, regress: str = "", *extra: str) -> subprocess.CompletedProcess[str]:
            return evaluate(home, url, setup.token, *common, "--bundle", bundle, "--cmd", agent(regress), *extra,
                            ingest_key=setup.key)  # fmt: skip

        passed = gate("js-1")
        wrong_tool = gate("js-2", "wrong_tool", "--baseline", "js-1", "--junit", str(junit_file),
                          "--summary", str(summary_file))  # fmt: skip
        extra_tool = gate("js-3", "extra_tool", "--baseline", "js-1", "--junit", str(tmp_path / "js-3.xml"))
        missing_tool = gate("js-4", "missing_tool", "--baseline", "js-1", "--junit", str(tmp_path / "js-4.xml"))
        wrong_output = gate("js-5", "wrong_output", "--baseline", "js-1", "--junit", str(tmp_path / "js-5.xml"))

    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "js-1 on smoke v2: pass" in passed.stdout
    # Each case's own run, found by the tags the JS SDK put on its resource from OTEL_RESOURCE_ATTRIBUTES.
    assert sum(f"{url}/p/{project.slug}/runs/" in line for line in passed.stdout.splitlines()) == 2, passed.stdout

    for result, bundle, failed, why in (
        (
            extra_tool,
            "js-3",
            "tools_called: failed",
            "expected exactly lookup_order; called lookup_order, cancel_order",
        ),
        (missing_tool, "js-4", "tools_called: failed", "expected exactly lookup_order; called no tool"),
        (wrong_output, "js-5", "equals: failed", "'lost'"),
        (wrong_tool, "js-2", "tools_called: failed", "expected exactly lookup_order; called cancel_order"),
    ):
        assert result.returncode == 1, (bundle, result.stdout, result.stderr)
        assert f"{bundle} on smoke v2: fail" in result.stdout
        assert f"{first}  fail     {failed}" in result.stdout, (bundle, result.stdout)
        assert f"{second}  fail     {failed}" in result.stdout, (bundle, result.stdout)
        assert "regression against eval run" in result.stdout  # both cases passed on js-1: flipped
        report = junit_file if bundle == "js-2" else tmp_path / f"{bundle}.xml"
        failure = next(c for c in ET.parse(report).getroot().iter("testcase") if c.get("name") == first).find("failure")
        assert failure is not None and why in (failure.text or ""), (
            bundle,
            failure.text if failure is not None else None,
        )

    suite = ET.parse(junit_file).getroot()
    failures = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert set(failures) == {first, second, "gate"}
    failure = failures[first]
    assert failure is not None and failure.get("message") == f"{first}: tools_called: failed"
    assert "expected exactly lookup_order; called cancel_order" in (failure.text or "")
    assert f"run: {url}/p/{project.slug}/runs/" in (failure.text or "")
    markdown = summary_file.read_text()
    assert "agentops eval: fail" in markdown and "against js-1" in markdown
    assert f"| {first} | fail | tools\\_called: failed |" in markdown
    assert f"]({url}/p/{project.slug}/runs/" in markdown
