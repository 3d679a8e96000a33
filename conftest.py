"""The whole repository's test session: how it is spread, and what it must
leave behind.

- ``./dev test`` spreads the suite over pytest processes (``--dist
  loadgroup``), biggest units first.
- tests/unit runs with sockets off (pytest-socket, as twine's
  ``--disable-socket``): a unit test needs only Python and git, and one that
  reaches for the network, a sandbox or a server fails at once.
- Nothing the session started may outlive it.
- ``python3`` is the interpreter itself, not a version manager's shim
  (:func:`without_version_shims`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent / "tests" / "unit"


def without_version_shims(path: str) -> str:
    """``path`` with the folder of the interpreter that ``python3`` runs put
    first, when ``python3`` is a version manager's shim (pyenv, asdf: a
    ``shims`` folder). A shim is a shell script that works out the version
    on every call: on CI's machine ~15 more processes and ~70 ms of CPU per
    ``python3``, and the suite's local commands (assets, Django's SQL, the
    stand-in manage.py) call it ~1,500 times. The interpreter is the one the
    shim would pick from a folder that names no version; no test's project
    names another one for a command that runs locally."""
    found = shutil.which("python3", path=path)
    if not found or "shims" not in Path(found).parts:
        return path
    try:
        done = subprocess.run([found, "-c", "import sys; print(sys.executable)"],
                              capture_output=True, text=True, timeout=60, cwd="/",
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return path
    real = done.stdout.strip()
    if done.returncode != 0 or not os.path.isabs(real):
        return path
    return os.pathsep.join([str(Path(real).parent), path])


os.environ["PATH"] = without_version_shims(os.environ.get("PATH", ""))


def processes_under(base: Path) -> list[tuple[int, str]]:
    """Live processes (pid, command line) whose working directory or command
    line lies inside ``base``: sandboxes, dynos and app servers a test started
    there. Linux /proc; zombies have no cwd and are left out."""
    inside = str(base.resolve()) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd") + os.sep
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:
            continue
        if cwd.startswith(inside) or inside in cmd + os.sep:
            found.append((int(entry.name), cmd))
    return found


#: The biggest units of work (an xdist group: a module, or the group its
#: cases name) and the seconds each took in one pytest process of a fresh
#: clone's ``./dev test`` (8 processes on 2 cores, 2026-12-05). They start
#: first, biggest first, so no process starts a long one last; a unit not
#: named here keeps its place after them. The figures only order the units:
#: a stale one costs a little balance, never a test.
UNIT_SECONDS = {
    "tests/e2e/tasks/test_e2e_online.py": 304,
    "tests/e2e/tasks/test_e2e_health.py": 250,
    "tests/e2e/examples/test_tally_app.py": 246,
    "tests/e2e/tasks/test_e2e_deploy.py": 242,
    "tests/e2e/bench/test_bench_run.py": 239,
    "sandbox/tests/test_cli.py": 217,
    "faults-0": 213,
    "kills-herotasks-pipeline": 205,
    "tests/e2e/tasks/test_e2e_recover_truth.py": 204,
    "tests/e2e/tasks/test_e2e_failures.py": 166,
    "tests/e2e/tasks/test_e2e_restart_skip.py": 158,
    "faults-1": 134,
    "tests/e2e/tasks/test_e2e_runtime.py": 117,
    "faults-2": 114,
    "sandbox/tests/test_addons.py": 108,
    "sandbox/tests/test_cli_everyday.py": 101,
    "tests/e2e/tasks/test_e2e_strategies.py": 99,
    "tests/e2e/tasks/test_e2e_rails_real.py": 90,
    "sandbox/tests/test_git_build.py": 89,
    "kills-conditional-slug": 87,
    "tests/e2e/tasks/test_e2e_promotion.py": 82,
    "tests/e2e/test_packaging.py": 77,
    "tests/e2e/tasks/test_e2e_retention.py": 70,
    "tests/e2e/tasks/test_e2e_recover_safety.py": 69,
    "kills-issue20-copy0": 67,
    "tests/e2e/tasks/test_e2e_spaces_users.py": 65,
    "kills-naive-slug": 60,
    "kills-issue20-copy2": 56,
    "kills-issue20-copy1": 52,
    "sandbox/tests/test_python_buildpack.py": 47,
    "tests/e2e/tasks/test_e2e_bad_input.py": 44,
    "tests/e2e/tasks/test_e2e_fir.py": 44,
    "kills-issue20-keep-code": 42,
    "sandbox/tests/test_runtime.py": 37,
    "sandbox/tests/test_fir.py": 36,
    "tests/e2e/tasks/test_e2e_prestart.py": 34,
    "tests/e2e/tasks/test_e2e_django_real.py": 33,
    "tests/e2e/tasks/test_e2e_ci.py": 31,
    "sandbox/tests/test_api.py": 27,
    "sandbox/tests/test_daemon.py": 22,
    "tests/e2e/tasks/test_e2e_fab_dry.py": 21,
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """How ``./dev test`` spreads the suite over pytest processes
    (``--dist loadgroup``): a test module is one unit of work (it may share
    a module-scoped app), unless its cases name their own ``xdist_group``
    (the reliability matrix: a group per app). The biggest units go first,
    the quick unit tests last, so no process is left running one long
    module while the others idle: those of :data:`UNIT_SECONDS`, biggest
    first, then the other groups, the end-to-end modules and the rest,
    each kept together, in file order."""
    for item in items:
        if UNIT in Path(item.path).parents:
            item.add_marker(pytest.mark.disable_socket)
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))

    def rank(pair) -> tuple[int, float]:
        index, item = pair
        group = item.get_closest_marker("xdist_group").args[0]
        if group in UNIT_SECONDS:
            return (0, -UNIT_SECONDS[group])
        if not group.endswith(".py"):
            return (1, index)
        return (3, index) if UNIT in Path(item.path).parents else (2, index)

    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes(tmp_path_factory):
    """After everything else is torn down, nothing the session started may
    still run from its temporary folders (CI runs on a machine that others
    use next). Leftovers are killed and reported as an error, so a fixture
    that forgets to stop its sandbox or server is found, not tolerated."""
    yield
    if not Path("/proc/self/cwd").exists():
        return
    base = tmp_path_factory.getbasetemp()
    deadline = time.monotonic() + 15  # dynos may still be on their way out
    while (left := processes_under(base)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        pytest.fail("processes left running after the session (now killed):\n"
                    + "\n".join(f"  {pid} {cmd[:160]}" for pid, cmd in left),
                    pytrace=False)


