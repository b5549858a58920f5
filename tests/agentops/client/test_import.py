"""The client imports without Django and without settings: its folder copied alone into a project
(standard library only), and from the installed package (no settings loaded), the budgets client on its
own too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import agentops.client.approvals

MODULE = Path(agentops.client.approvals.__file__)


def _python(code: str, cwd: Path, **env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_the_folder_copied_alone_needs_only_the_standard_library(tmp_path: Path) -> None:
    (tmp_path / "agentops_client").mkdir()
    for module in MODULE.parent.glob("*.py"):
        shutil.copy(module, tmp_path / "agentops_client" / module.name)
    found = _python(
        """
import json, sys
for blocked in ("django", "celery", "agentops", "opentelemetry"):
    sys.modules[blocked] = None  # importing any of them now fails
before = set(sys.modules)
import agentops_client
from agentops_client import budgets, transport
top = {name.split(".")[0] for name in set(sys.modules) - before}
outside = sorted(n for n in top if n not in sys.stdlib_module_names and not n.startswith("_"))
print(json.dumps({"outside": outside, "trace": transport.trace_context(),
                  "names": sorted(agentops_client.__all__)}))
""",
        tmp_path,
    )
    assert found["outside"] == ["agentops_client"]
    assert found["trace"] == {}  # without OpenTelemetry the request is simply tied to no run
    assert {"require_approval", "requires_approval", "budget", "BudgetExceeded"} <= set(found["names"])


def test_the_package_import_loads_no_django_settings(tmp_path: Path) -> None:
    found = _python(
        """
import json, os, sys
import agentops.client
from agentops.client import require_approval
print(json.dumps({"settings": "agentops.settings" in sys.modules, "apps": "django.apps.registry" in sys.modules,
                  "configured": "django.conf" in sys.modules and sys.modules["django.conf"].settings.configured}))
""",
        tmp_path,
        PYTHONPATH=str(MODULE.parents[2]),
    )
    assert found == {"settings": False, "apps": False, "configured": False}


def test_the_package_import_loads_no_django_at_all(tmp_path: Path) -> None:
    found = _python(
        """
import json, os, sys
import agentops.client
print(json.dumps({"django": sorted(m for m in sys.modules if m.split(".")[0] in ("django", "celery")),
                  "settings_module": os.environ.get("DJANGO_SETTINGS_MODULE")}))
""",
        tmp_path,
        PYTHONPATH=str(MODULE.parents[2]),
    )
    assert found == {"django": [], "settings_module": None}


def test_the_budgets_client_loads_no_django_at_all(tmp_path: Path) -> None:
    found = _python(
        """
import json, os, sys
import agentops.client.budgets
from agentops.client import budget
print(json.dumps({"django": sorted(m for m in sys.modules if m.split(".")[0] in ("django", "celery")),
                  "settings_module": os.environ.get("DJANGO_SETTINGS_MODULE")}))
""",
        tmp_path,
        PYTHONPATH=str(MODULE.parents[2]),
    )
    assert found == {"django": [], "settings_module": None}
