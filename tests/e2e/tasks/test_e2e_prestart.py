"""The window holds only the migration (issue 16, item 5): the migration's
one-off dyno is started, and booted, before maintenance goes on
(``db.prestart``, on the scratch app, which has the new code) and migrates
only once told to, inside the window; a deploy killed in between leaves no
dyno that migrates by itself."""

from __future__ import annotations

import pytest

from herotasks.core import scratch
from tests.support.e2e import step
from tests.support.polling import wait_until
from tests.support.projects import LAYOUTS, assert_clean

pytestmark = pytest.mark.e2e

#: The fixture's migrate command, stamping when it starts (epoch seconds)
#: next to the fixture's database file.
STAMPED = ("#!/bin/sh\n"
           "python3 -c 'import time; print(time.time())' >> \"$DB_FILE.started\"\n"
           "exec bin/migrate\n")


@pytest.fixture
def slow_boot(admin):
    """Every dyno boots for 2 s (the held one too); put back after the test:
    the session sandbox is shared."""
    before = admin.get("/settings")
    admin.patch("/settings", {"boot_delay": 2})
    yield
    admin.patch("/settings", {"boot_delay": before["boot_delay"]})


def stamped(tally) -> None:
    (tally.root / "bin").mkdir(exist_ok=True)
    tally.commit({"bin/stamped": STAMPED}, "a migrate command that says when it starts")
    (tally.root / "bin" / "stamped").chmod(0o755)
    tally.git("add", "-A")
    tally.git("commit", "-q", "-m", "executable")
    config = (tally.root / "invoke.yaml").read_text()
    migrate = LAYOUTS[tally.layout]["config"].splitlines()[1]  # its migrations line
    assert migrate in config
    config = config.replace(migrate, "  migrations: {command: bin/stamped}")
    tally.commit({"invoke.yaml": config}, "stamped migrations")


def target_one_offs(sandbox, tally) -> list[str]:
    """The one-off (``run``) dynos that ever ran on the target app, from the
    sandbox's dyno logs (one file per dyno name)."""
    logs = sandbox.root / "logs" / "apps" / tally.app
    return sorted(p.name for p in logs.glob("run.*.log")) if logs.exists() else []


def test_the_migrations_dyno_boots_before_the_window_and_migrates_inside_it(
        tally, sandbox, slow_boot):
    stamped(tally)
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="1:Standard-1X")
    first = tally.applied()
    tally.add_migration()
    done, report = tally.deploy()
    assert report["ok"], report["error"]
    window = report["windows"]["maintenance"]
    prestart = step(report, "db.prestart")
    # the dyno (and what boots in it) came up before maintenance went on ...
    assert prestart["ok"] and not prestart["in_window"]
    assert prestart["finished_at"] <= window["started_at"]
    scratch_app = scratch.scratch_name("ht-scratch", tally.app)
    assert f"on {scratch_app} is booted (" in done.stdout
    # ... the window holds no dyno start, only the steps that need it ...
    inside = [s["name"] for s in report["steps"] if s["in_window"]]
    assert inside == ["slug.promote", "db.migrate", "dynos.restart", "dynos.wait"]
    assert target_one_offs(sandbox, tally) == []  # no one-off on the target
    # ... and the migration began only once the window was open, once
    starts = [float(x) for x in
              tally.db.with_name(tally.db.name + ".started").read_text().split()]
    assert len(starts) == 2  # v1's deploy, then this one
    assert window["started_at"] <= starts[-1] <= window["finished_at"]
    assert len(tally.applied()) == len(first) + 1
    assert report["requests"] <= 60
    assert_clean(tally.state())


def test_a_kill_after_the_prestart_leaves_no_dyno_that_migrates(tally, api):
    tally.deploy()
    before = tally.current()
    applied = tally.applied()
    tally.add_migration()
    kill = tally.hook_file("after", "db.prestart", "kill -9 $PPID")
    done, _ = tally.deploy(check=False, runtime=kill)
    assert done.returncode != 0
    assert "and waits for the window" in done.stdout
    scratch_app = scratch.scratch_name("ht-scratch", tally.app)

    def held_gone() -> bool:
        return not [d for d in api.get(f"/apps/{scratch_app}/dynos")
                    if d["type"] == "run"]
    # its input closed with herotasks: it exits (Heroku stops an attached
    # dyno whose client left) without having migrated
    wait_until(held_gone, 60, 0.5, "the held dyno's exit")
    assert tally.applied() == applied
    assert tally.state()["maintenance"] is False  # the window never opened
    done = tally.inv("deploy.recover", "--stage", "production")
    assert "recover: undone" in done.stdout, done.stdout
    assert tally.applied() == applied
    assert tally.current()["slug"]["id"] == before["slug"]["id"]
    assert_clean(tally.state())
