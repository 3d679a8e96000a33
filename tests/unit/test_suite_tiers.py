"""How ``./dev test`` spreads the suite: each unit of work (a module, or the
``xdist_group`` its cases name) runs in one pytest process, so a module's
shared app is made once (conftest.py). pytest 9.2 silently undid that
(pytest-dev/pytest-xdist#1386); this runs a small suite the way tasks.py
runs the real one and looks at where each test ran."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MODULE = """
import pytest

@pytest.mark.parametrize("n", range(6))
def test_case(n, record):
    record(__name__, n)
"""

GROUPED = """
import pytest

@pytest.mark.parametrize("n", [
    pytest.param(n, marks=pytest.mark.xdist_group(f"group-{n % 2}")) for n in range(6)])
def test_case(n, record):
    record(f"group-{n % 2}", n)
"""

#: The small suite's conftest: the repository's own grouping hook (loaded
#: from its file, not copied), and a fixture that records where a case ran.
CONFTEST = """
import importlib.util, json, os, pytest

_spec = importlib.util.spec_from_file_location("repo_conftest", {conftest!r})
_repo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_repo)
pytest_collection_modifyitems = _repo.pytest_collection_modifyitems

@pytest.fixture
def record():
    def write(unit, n):
        with open(os.environ["WHERE"], "a") as f:
            f.write(json.dumps([unit, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
    return write
"""


def test_each_unit_of_work_runs_in_one_process(tmp_path):
    # the options ./dev test passes (tasks.py), read from its source
    assert '"--dist", "loadgroup", "--no-loadscope-reorder"' in (REPO / "tasks.py").read_text()
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST.format(conftest=str(REPO / "conftest.py")))
    for name in ("test_one", "test_two", "test_three"):
        (suite / f"{name}.py").write_text(MODULE)
    (suite / "test_grouped.py").write_text(GROUPED)
    where = tmp_path / "where.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-n", "3", "--dist", "loadgroup", "--no-loadscope-reorder", str(suite)],
        cwd=suite, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "WHERE": str(where), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    ran: dict[str, set[str]] = defaultdict(set)
    for line in where.read_text().splitlines():
        unit, worker = json.loads(line)
        ran[unit].add(worker)
    assert set(ran) == {"test_one", "test_two", "test_three", "group-0", "group-1"}
    spread = {unit: sorted(workers) for unit, workers in ran.items() if len(workers) > 1}
    assert not spread, f"units spread over several processes: {spread}"
