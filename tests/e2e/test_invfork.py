"""tests.support.invfork, side by side with a fresh ``python -m invoke``: a
forked run must be the same run (output, exit status, cwd, environment,
argv, the path, a kill), or the e2e tests that use it would test something
else than what a user runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import invfork

pytestmark = pytest.mark.e2e

TASKS = """\
import json, os, sys
from invoke import task
from herotasks.tasks import ns

@task
def probe(c):
    print(json.dumps({"cwd": os.getcwd(), "env": dict(os.environ),
                      "argv0": sys.argv[0], "path0": sys.path[0],
                      "stdin": sys.stdin.read(), "tty": sys.stdout.isatty(),
                      "main": sys.modules["__main__"].__spec__.name}))
    print("and a line on stderr", file=sys.stderr)

@task
def killed(c):
    c.run("kill -9 $PPID")

@task
def fails(c):
    raise SystemExit(7)

@task
def crashes(c):
    raise RuntimeError("a crash")

@task
def gcfrozen(c):
    import gc
    print(gc.get_freeze_count())

ns.add_task(probe)
ns.add_task(killed)
ns.add_task(fails)
ns.add_task(crashes)
ns.add_task(gcfrozen)
"""


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tasks.py").write_text(TASKS)
    (root / "invoke.yaml").write_text("herotasks:\n  stages:\n    production: {app: x}\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "SOME_SETTING": "only-in-this-run"}
    return root, env


def real(args, root, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def forked(args, root, env) -> subprocess.CompletedProcess:
    return invfork.run(list(args), root, env, timeout=60)


@pytest.mark.parametrize("args", [
    ["--list"], ["--version"], ["fails"], ["no.such.task"],
    ["deploy.production", "--stage", "nowhere"], ["killed"]],
    ids=["list", "version", "exit-7", "unknown-task", "bad-stage", "kill-9"])
def test_a_forked_run_answers_as_a_fresh_interpreter(project, args):
    root, env = project
    a, b = real(args, root, env), forked(args, root, env)
    assert (b.returncode, b.stdout, b.stderr) == (a.returncode, a.stdout, a.stderr)
    if args == ["killed"]:
        assert b.returncode == -9


def test_a_forked_run_has_its_own_cwd_env_argv_and_path(project):
    root, env = project
    a, b = real(["probe"], root, env), forked(["probe"], root, env)
    assert a.returncode == b.returncode == 0, (a.stderr, b.stderr)
    seen_a, seen_b = json.loads(a.stdout), json.loads(b.stdout)
    assert seen_b["env"]["SOME_SETTING"] == "only-in-this-run"
    assert seen_b == seen_a
    assert b.stderr == a.stderr == "and a line on stderr\n"


def test_a_crash_is_a_traceback_and_exit_1_as_in_a_fresh_interpreter(project):
    root, env = project
    a, b = real(["crashes"], root, env), forked(["crashes"], root, env)
    assert a.returncode == b.returncode == 1
    assert b.stderr.splitlines()[-1] == a.stderr.splitlines()[-1] == "RuntimeError: a crash"


def test_runs_at_once_each_get_their_own_answer(project):
    root, env = project
    runs = [invfork.Run(["fails"], root, env), invfork.Run(["probe"], root, env)]
    assert len({r.pid for r in runs}) == 2
    out = [r.communicate(60) for r in runs]
    assert [r.returncode for r in runs] == [7, 0]
    assert json.loads(out[1][0])["cwd"] == str(root)


def test_a_forked_runs_collector_leaves_what_the_server_imported(project):
    """The server's objects are frozen before it forks (gc.freeze), so a
    run's collections do not visit, and so copy, every page it shares;
    a fresh interpreter has nothing frozen."""
    root, env = project
    a, b = real(["gcfrozen"], root, env), forked(["gcfrozen"], root, env)
    assert a.returncode == b.returncode == 0, (a.stderr, b.stderr)
    assert int(a.stdout) == 0
    assert int(b.stdout) > 10_000
