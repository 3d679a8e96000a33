"""This repository's own development tasks (not the product).

The product's tasks live in :mod:`herotasks.tasks`; these are the jobs a
developer of herotasks runs: ``./dev test``, ``./dev demo``, ``./dev bench``.
``./dev`` installs everything first (scripts/bootstrap).
"""

from __future__ import annotations

import os
import shlex
import sys

from invoke import Collection, task
from invoke.exceptions import Exit

NODE_BIN = os.path.abspath(".herotasks/node/node_modules/.bin")
#: ./dev test's pytest processes (why eight: the comment in test()).
JOBS = 8


def _env() -> dict:
    # The official CLI installed by scripts/bootstrap comes first on PATH;
    # every sandbox the tests start shares one build cache, so a Django app's
    # packages are downloaded once.
    return {"PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HEROTASKS_SANDBOX_BUILD_CACHE": os.path.abspath(".herotasks/cache")}


@task(help={"k": "only tests matching this pytest -k expression",
            "unit": "only the unit tier (tests/unit: no sandbox, no sockets; < 1 min)",
            "x": "stop at the first failure",
            "jobs": f"pytest processes (default {JOBS}; 1 runs everything in one)"})
def test(c, k=None, unit=False, x=False, jobs=JOBS):
    """Run the test suite (the end-to-end tests start their own sandbox)."""
    # -rfEs: a skipped test says why in the closing summary, so a check that
    # quietly stops running on some machine (CI) shows up; --durations: the
    # slowest tests, to keep the suite quick.
    # The style rules first: a lint failure is the cheapest one to find.
    lint = c.run(f"{shlex.quote(sys.executable)} -m ruff check .", warn=True, pty=False)
    if not lint.ok:
        raise Exit("ruff found style problems (above); fix them or `ruff check --fix`",
                   code=lint.exited or 1)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-rfEs", "--durations=25"]
    if k:
        args += ["-k", k]
    if unit:
        args.append("tests/unit")
    if x:
        args.append("-x")
    if jobs > 1:
        # Every pytest process imports and compiles the same test modules
        # (with pytest's assertion rewriting) and the modules they import:
        # 4.5 s of CPU each from source, 1.9 s from compiled files. One
        # collection first writes those files, even where the environment
        # says not to (PYTHONDONTWRITEBYTECODE: this machine's), then each
        # process reads them. Its failures are the real run's to report.
        c.run(shlex.join([*args, "--collect-only"]), hide=True, warn=True, pty=False,
              env={**_env(), "PYTHONDONTWRITEBYTECODE": ""})
    # The suite waits as much as it computes (builds, dyno boots, polls,
    # preboot's switch): with four processes on CI's 2 cores the cores were
    # ~68% busy (process accounting: 26.6 min of CPU in 19.4 min). Each cut
    # in CPU since (forked inv runs, no CLI credential helper per push)
    # leaves more waiting, which more processes fill: on fresh clones, 8
    # took 12:06 where 6 took 13:38 (the same commit). Past that they only
    # contend: 10 took 10:47 where 8 took 10:11 (c85eeff). A module, or a group
    # its cases name, goes to one process, biggest first (conftest.py), so a
    # module's shared app is set up once; each process has its own sandbox.
    if jobs > 1:
        args += ["-n", str(jobs), "--dist", "loadgroup", "--no-loadscope-reorder"]
    result = c.run(shlex.join(args), env=_env(), warn=True, pty=False)
    if result.exited == 5:
        raise Exit("pytest collected no tests: nothing was checked "
                   "(check tests/ and any -k or --unit filter)", code=5)
    if not result.ok:
        raise Exit(code=result.exited)


@task(help={"root": "where the demo's sandbox lives (default .herotasks/demo; the "
                    "Rails app's next to it, ROOT-ledger)",
            "app": "tally (Django), ledger (Rails) or both (default)"})
def demo(c, root=".herotasks/demo", app="both"):
    """The main job: herotasks deploys of the example apps on the local sandbox,
    under load."""
    apps = {"both": ("tally", "ledger"), "tally": ("tally",), "ledger": ("ledger",)}
    if app not in apps:
        raise Exit(f"demo: unknown app {app!r}; use tally, ledger or both", code=2)
    for name in apps[app]:
        where = root if name == "tally" else f"{root}-{name}"
        c.run(f"{sys.executable} -m bench.scenario --root {where} --strategy herotasks"
              f" --app {name}", env=_env(), pty=False)


@task(help={"root": "where the benchmark's sandbox lives (default .herotasks/bench)"})
def bench(c, root=".herotasks/bench"):
    """The downtime benchmark: naive, conditional and herotasks in one run."""
    c.run(f"{sys.executable} -m bench.run --root {root} --markdown BENCHMARKS.md",
          env=_env(), pty=False)


ns = Collection(test, demo, bench)
