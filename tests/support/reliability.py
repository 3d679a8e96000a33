"""What the reliability matrix (test_reliability_*.py) shares: one app per
strategy and promote method, deployed once and then put through case after
case, and the one end-state check every case must pass.

A case commits a migration, deploys with one thing going wrong (herotasks
killed after a step, or one API request answered badly), then does what the
documented way out says (``deploy.recover`` while a journal is left) and
checks what a user would: maintenance, formation, preboot and config vars as
before the deploy; code and schema agreeing (the live slug's migrations are
exactly the applied ones); no lock, scratch app or journal left.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.projects import Project

#: The benches' project layout (tests.support.projects.LAYOUTS) and where
#: its migrations live. Django's: the sandbox's Python buildpack builds it in
#: about half the time the Ruby buildpack takes (bundle install, rake's task
#: detection), over the matrix's ~120 deploys; the Ruby path has its own
#: tests (test_e2e_deploy's rails cases, test_e2e_rails_real).
LAYOUT, MIGRATIONS = "django", "tally/migrations/"

#: The runtime config of each (strategy, promote method) the matrix covers.
SETUPS = {
    ("herotasks", "slug"): "",
    ("herotasks", "pipeline"): "  promote: {method: pipeline}\n",
    ("conditional", "slug"): "  strategy: conditional\n",
    ("naive", "slug"): "  strategy: naive\n",
}


class Bench:
    """One deployed app and its repository, for many cases in a row."""

    def __init__(self, proj: Project, api, setup: tuple[str, str]):
        self.proj, self.api, self.setup = proj, api, setup

    def runtime(self, hooks: dict | None = None) -> Path:
        """A -f file: the setup's settings plus ``hooks``."""
        path = self.proj.root.parent / "case.yaml"
        body = SETUPS[self.setup]
        if hooks:
            body += "  hooks: " + json.dumps(hooks) + "\n"
        path.write_text("herotasks:\n" + (body or "  {}\n"))
        return path

    def deploy_killed_after(self, step: str) -> None:
        """Commit a migration and deploy it, herotasks killed (kill -9, from
        an ``after`` hook: its shell is inv's child) right after ``step``."""
        self.proj.add_migration()
        kill = self.runtime({"after": {step: ["kill -9 $PPID"]}})
        done, _ = self.proj.deploy(check=False, runtime=kill)
        assert done.returncode != 0, f"the kill after {step} never happened"

    def snapshot(self) -> dict:
        app = self.proj.app
        state = self.proj.state()
        state["config"] = self.api.get(f"/apps/{app}/config-vars")
        return state

    def journal(self) -> Path:
        return self.proj.root / ".herotasks" / "journal" / f"{self.proj.app}.json"

    def recover_until_done(self) -> list[str]:
        """``deploy.recover`` as a user would, until nothing is left (it may
        ask to be run again while a release is pending); its outputs."""
        said = []
        for _ in range(5):
            if not self.journal().exists() and not self.proj.state()["lock"]:
                break
            done = self.proj.inv("deploy.recover", "--stage", "production",
                                 check=False)
            said.append(done.stdout + done.stderr)
        return said

    def live_commit(self) -> str:
        """The commit the live slug was built from."""
        release = self.proj.current()
        return self.api.get(f"/apps/{self.proj.app}/slugs/{release['slug']['id']}")["commit"]

    def live_migrations(self) -> set[str]:
        """The migration files of the commit the live slug was built from."""
        listing = self.proj.git("ls-tree", "--name-only", self.live_commit(), MIGRATIONS)
        return set(listing.split())

    def assert_end_state(self, before: dict, said: list[str]) -> None:
        after = self.snapshot()
        assert not self.journal().exists(), said
        for key in ("maintenance", "lock", "scratch"):
            assert after[key] is False, (key, said)
        for key in ("formation", "preboot", "config"):
            assert after[key] == before[key], (key, said)
        applied = set(self.proj.applied())
        assert applied == self.live_migrations(), ("code and schema disagree", said)


def bench_plan(setup: tuple[str, str]):
    """The plan herotasks makes for a bench case (:func:`make_bench`'s app:
    a worker, preboot on, assets to compile, a migration it cannot prove
    online), from the planner itself, so a new step is in the matrix without
    anyone adding it here."""
    from herotasks.core.classify import Verdict
    from herotasks.core.config import Settings
    from herotasks.core.plan import plan_deploy
    from herotasks.core.state import Pending, Process, State

    strategy, method = setup
    settings = Settings.resolve({"herotasks": {
        "stages": {"production": {"app": "bench"}}, "preset": LAYOUT,
        "strategy": strategy, "promote": {"method": method}}}, stage="production")
    state = State(app="bench", stage="production", new_commit="b" * 40,
                  deployed_commit="a" * 40, pending=Pending(True, "migrations changed"),
                  preboot=True, preboot_allowed=True, assets_rebuild=True,
                  formation=(Process("web", 1, "Standard-1X"),
                             Process("worker", 2, "Standard-1X")),
                  migrations=(Verdict(MIGRATIONS + "0002_case.py", "window", "unknown"),))
    return plan_deploy(state, settings)


def make_bench(setup, api, tools, git_env, root: Path):
    """The app for ``setup``: deployed once, Standard dynos, a worker, preboot
    on (so every window step is in the plan), a pipeline when promoting by one."""
    app = tools.unique("tally")
    api.create_app(app)
    proj = Project(root / "repo", app, LAYOUT, dict(git_env), api, tools)
    api.patch(f"/apps/{app}/config-vars", {"DB_FILE": str(proj.db)})
    pipeline = None
    if setup[1] == "pipeline":
        pipeline = api.post("/pipelines", {"name": tools.unique("pipe")})
        api.post("/pipeline-couplings", {"app": app, "pipeline": pipeline["id"],
                                         "stage": "production"})
    bench = Bench(proj, api, setup)
    proj.deploy(runtime=bench.runtime())
    proj.scale(web="1:Standard-1X", worker="2:Standard-1X")
    api.patch(f"/apps/{app}/features/preboot", {"enabled": True})
    return bench, pipeline


class BenchPool:
    """The benches of one pytest process, one per setup, made on first use
    and kept for the whole session: the matrix's cases of a setup share its
    app (each case puts it back, :func:`reset`). A module-scoped fixture
    parametrized per case is made anew for every case (pytest keys it by
    the case), which cost a first deploy each time."""

    def __init__(self, api, tools, git_env, tmp_path_factory):
        self.api, self.tools, self.git_env = api, tools, git_env
        self.tmp_path_factory = tmp_path_factory
        self.made: dict[tuple[str, str], tuple[Bench, dict | None]] = {}

    def get(self, setup: tuple[str, str]) -> Bench:
        if setup not in self.made:
            root = self.tmp_path_factory.mktemp("bench-" + "-".join(setup))
            self.made[setup] = make_bench(setup, self.api, self.tools, self.git_env, root)
        return self.made[setup][0]

    def drop_all(self) -> None:
        for bench, pipeline in self.made.values():
            drop_bench(bench, pipeline, self.api)
        self.made.clear()


def drop_bench(bench, pipeline, api) -> None:
    if pipeline:
        api.request("DELETE", f"/pipelines/{pipeline['id']}")
    api.request("DELETE", f"/apps/{bench.proj.app}")


def reset(bench: Bench, before: dict) -> None:
    """After a case, whatever it left: back to ``before`` by force, so one
    failing case does not fail the ones after it (its own assertion stands)."""
    from herotasks.core import lock, scratch

    api, app = bench.api, bench.proj.app
    bench.journal().unlink(missing_ok=True)
    for name in (lock.lock_app_name(app), scratch.scratch_name("ht-scratch", app)):
        api.request("DELETE", f"/apps/{name}")
    api.patch(f"/apps/{app}", {"maintenance": False})
    api.patch(f"/apps/{app}/formation", {"updates": [
        {"type": t, "quantity": q, "size": size} for t, q, size in before["formation"]]})
    api.patch(f"/apps/{app}/features/preboot", {"enabled": before["preboot"]})
