"""``fab -H`` and dry runs end to end on the sandbox.

``fab -H host deploy.production`` hands every task a fabric ``Connection``,
whose ``run`` executes on the remote host; a deploy is all local git, local
asset compiles and HTTPS to Heroku, so everything must go through
``Connection.local`` (the shell chokepoint, ``adapters/shell.py``). The test
runs fabric's own program and executor in this process, with every remote
entry point of ``Connection`` made to fail.

``inv --dry deploy.production`` and ``deploy.plan`` must change nothing:
the platform is photographed through the API before and after, and the
sandbox's request log must show reads only (no API write, no git push).
"""

from __future__ import annotations

import json
import os
import subprocess

import fabric
import invoke.runners
import pytest
from fabric.main import program

from herotasks.adapters import children
from tests.support.e2e import RequestLog, remote_refs
from tests.support.projects import Project, assert_clean, steps, window

pytestmark = pytest.mark.e2e


# -- fab -H ----------------------------------------------------------------------


REMOTE = ("run", "sudo", "open", "put", "get", "sftp", "forward_local",
          "forward_remote", "create_session", "shell")


def test_fab_deploy_runs_nothing_remotely(tally, git_env, monkeypatch, capsys):
    # the environment `source ROOT/env` gives a user, and the project as cwd
    for key in list(os.environ):
        if key not in git_env:
            monkeypatch.delenv(key)
    for key, value in git_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tally.root)
    source = tally.add_migration()

    remote: list[tuple[str, tuple]] = []
    for name in REMOTE:
        def refuse(self, *args, _name=name, **kwargs):
            remote.append((_name, args))
            raise AssertionError(f"Connection.{_name} reached the remote host")
        monkeypatch.setattr(fabric.Connection, name, refuse)

    local: list[str] = []
    real_local = fabric.Connection.local

    def spy_local(self, command, *args, **kwargs):
        local.append(command)
        return real_local(self, command, *args, **kwargs)
    monkeypatch.setattr(fabric.Connection, "local", spy_local)

    # every process invoke starts, whoever asked for it; and any other one
    started: list[str] = []
    real_popen = invoke.runners.Popen

    def spy_popen(command, *args, **kwargs):
        started.append(command)
        return real_popen(command, *args, **kwargs)
    monkeypatch.setattr(invoke.runners, "Popen", spy_popen)
    elsewhere: list = []
    real_subprocess = subprocess.Popen

    class SpyPopen(real_subprocess):
        def __init__(self, args, *a, **kw):
            elsewhere.append(args)
            super().__init__(args, *a, **kw)
    monkeypatch.setattr(subprocess, "Popen", SpyPopen)

    report_path = tally.root.parent / "fab-report.json"
    # fab reads fabric.yaml, not invoke.yaml: the user passes it with -f
    program.run(["fab", "-H", "deploy@remote.invalid", "-f", "invoke.yaml",
                 "-c", "tasks", "deploy.production", "--json", str(report_path)],
                exit=False)
    captured = capsys.readouterr()
    assert report_path.exists(), captured.err
    report = json.loads(report_path.read_text())
    assert report["ok"], (report["error"], captured.err[-2000:])

    assert remote == []
    # besides invoke's, at most herotasks' watchdog (adapters/children.py),
    # which starts with the first command of a process
    assert [a for a in elsewhere if a[-1] != children.WATCHDOG_SOURCE] == []
    # every process started was a command given to Connection.local
    assert started and len(started) == len(local)
    pairs = list(zip(started, local, strict=True))
    assert all(cmd.endswith(given) or given in cmd for cmd, given in pairs), pairs
    assert any(cmd.startswith("git push") for cmd in local)
    assert any("manage.py collectstatic" in cmd for cmd in local)  # the asset command

    # and the deploy happened: the same steps and end state as under inv
    assert window(report) == ["slug.promote", "db.migrate", "dynos.restart",
                              "dynos.wait"]
    assert "slug.build" in steps(report)
    assert len(tally.applied()) == 2
    assert_clean(tally.state())
    assert source in tally.current()["description"]


# -- dry runs ----------------------------------------------------------------------


def photograph(proj: Project) -> dict:
    """Everything a deploy could change, on the platform and in the repo."""
    api, app = proj.api, proj.app
    local = {
        "refs": proj.git("for-each-ref", "--format=%(refname) %(objectname)"),
        "status": proj.git("status", "--porcelain", "--ignored"),
        "statedir": sorted(
            (str(p.relative_to(proj.root)), p.read_bytes())
            for p in (proj.root / ".herotasks").rglob("*") if p.is_file()),
    }
    return {
        "apps": sorted((a["name"], a["updated_at"]) for a in api.get("/apps")),
        "app": api.get(f"/apps/{app}"),
        "releases": api.get(f"/apps/{app}/releases"),
        "formation": api.get(f"/apps/{app}/formation"),
        "features": api.get(f"/apps/{app}/features"),
        "config": api.get(f"/apps/{app}/config-vars"),
        "builds": api.get(f"/apps/{app}/builds"),
        "dynos": sorted((d["id"], d["state"], d["release"]["version"])
                        for d in api.get(f"/apps/{app}/dynos")),
        "git": remote_refs(proj),
        "local": local,
    }


def test_dry_runs_and_plan_change_nothing(tally, sandbox, tools):
    # an app where a real deploy would change everything it can: preboot and
    # workers to turn off, maintenance to turn on, a migration to run
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="2:Standard-1X")
    tally.api.patch(f"/apps/{tally.app}/features/preboot", {"enabled": True})
    source = tally.add_migration()
    tools.wait_until(lambda: all(
        d["state"] == "up" for d in tally.api.get(f"/apps/{tally.app}/dynos")),
        60, 0.2, "dynos up before the photograph")
    before = photograph(tally)
    log = RequestLog(sandbox.root)

    done = tally.inv("--dry", "deploy.production")
    for name in ("preboot.off", "workers.stop", "maintenance.on", "db.migrate"):
        assert name in done.stdout
    report_path = tally.root.parent / "dry.json"
    tally.inv("--dry", "deploy.production", "--strategy", "naive",
              "--json", str(report_path))
    report = json.loads(report_path.read_text())
    assert report["ok"] and report["commit"]["to"] == source
    assert all(s["skipped"] for s in report["steps"] if s["name"] != "check")
    assert "app.push" in steps(report)
    plan = tally.inv("deploy.plan", "--stage", "production").stdout
    assert "migrations:  pending (tally/migrations changed: 1 file)" in plan

    requests = log.since()
    after = photograph(tally)
    assert after == before
    assert any(path.startswith(f"/apps/{tally.app}") for _, path in requests)
    writes = [(m, p) for m, p in requests if m not in ("GET", "HEAD")
              or "git-receive-pack" in p]
    assert writes == []
    assert_clean(tally.state())
