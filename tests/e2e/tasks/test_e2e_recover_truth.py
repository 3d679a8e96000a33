"""Recovery that is never wrong (issue 20), end to end.

* the lock holder's deploy id decides which journal is the truth: a local
  journal of another deploy is reported and set aside, never acted on;
* ``deploy.recover``'s exit code and last line say what happened;
* the journal kept with the lock is acted on only for the app it was
  written for;
* a step refused before it changed anything leaves nothing open.

Two "machines" are one repository whose journal file is swapped: what sets
them apart for herotasks is the journal each holds, the rest is on Heroku.
Real ``inv`` processes, real git, the session's sandbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from herotasks.core import lock
from tests.support.projects import Project, assert_clean

pytestmark = pytest.mark.e2e


def journal_file(proj: Project) -> Path:
    return proj.root / ".herotasks" / "journal" / f"{proj.app}.json"


def killed(proj: Project, when: str, step: str) -> None:
    """Deploy a new migration, killed (kill -9) ``when`` ``step``."""
    proj.add_migration()
    done, _ = proj.deploy(check=False, runtime=proj.hook_file(when, step,
                                                               "kill -9 $PPID"))
    assert done.returncode != 0, f"the kill {when} {step} never happened"


def recover(proj: Project, *flags: str, stage: str = "production"):
    return proj.inv("deploy.recover", "--stage", stage, *flags, check=False)


def dynos(proj: Project) -> list[tuple[str, str]]:
    return sorted((d["name"], d["created_at"])
                  for d in proj.api.get(f"/apps/{proj.app}/dynos"))


def last_line(done) -> str:
    text = (done.stdout if done.returncode == 0 else done.stderr).strip()
    return text.splitlines()[-1]


# -- 1. one rule for which journal is the truth ------------------------------------

def test_a_stale_local_journal_is_set_aside_for_the_lock_holders(tally):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="2:Standard-1X")
    killed(tally, "after", "maintenance.on")
    stale = journal_file(tally).read_bytes()  # this machine keeps deploy 1's
    done = recover(tally)
    assert done.returncode == 0 and "recover: undo" in done.stdout, done.stdout
    assert not journal_file(tally).exists()

    # deploy 2 (another machine, say) is killed past its promotion: its code
    # is live without its migration, its journal is kept with the lock
    killed(tally, "after", "slug.promote")
    assert len(tally.applied()) == 1
    journal_file(tally).write_bytes(stale)

    done = recover(tally)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "set aside" in done.stdout and "recover: finish" in done.stdout
    assert "recover: undo" not in done.stdout
    # deploy 2 finished (its code holds both new migrations): code and schema agree
    assert len(tally.applied()) == 3
    assert_clean(tally.state())
    # the stale journal is kept, aside, where nothing acts on it
    aside = list(journal_file(tally).parent.glob(f"{tally.app}.*.json"))
    assert len(aside) == 1 and aside[0].read_bytes() == stale


def test_a_machine_back_after_another_finished_its_deploy_does_nothing(tally):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="2:Standard-1X")
    killed(tally, "after", "slug.promote")
    mine = journal_file(tally).read_bytes()
    # another machine (no journal of its own) finishes it from the lock's copy
    journal_file(tally).unlink()
    done = recover(tally)
    assert "recover: finish" in done.stdout and done.returncode == 0
    assert len(tally.applied()) == 2 and not tally.state()["lock"]

    # this machine comes back with the journal it kept
    journal_file(tally).write_bytes(mine)
    before = (dynos(tally), tally.current()["id"], tally.applied(), tally.state())
    status = tally.inv("deploy.status", "--stage", "production").stdout
    assert "UNFINISHED" not in status, status
    done = recover(tally)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "set aside" in done.stdout and "recover: finish" not in done.stdout
    assert (dynos(tally), tally.current()["id"], tally.applied(),
            tally.state()) == before
    assert not journal_file(tally).exists()
    # and a deploy is not told that one is unfinished
    tally.commit({"index.html": "v3\n"})
    _, report = tally.deploy()
    assert report["ok"]


def test_a_deploy_sets_aside_a_journal_whose_lock_was_released(tally):
    tally.deploy()
    killed(tally, "after", "maintenance.on")
    mine = journal_file(tally).read_bytes()
    journal_file(tally).unlink()
    assert recover(tally).returncode == 0  # undone from the lock's copy
    journal_file(tally).write_bytes(mine)
    _, report = tally.deploy()
    assert report["ok"] and len(tally.applied()) == 2
    assert_clean(tally.state())


# -- 3. a journal copy is acted on only for its own app ------------------------------

def test_a_lock_copy_written_for_another_app_is_refused(tally, api, tools):
    tally.deploy()
    killed(tally, "after", "maintenance.on")
    journal_file(tally).unlink()  # a clone without a journal
    other = tools.unique("other")
    api.create_app(other)
    theirs = lock.lock_app_name(other)
    try:
        # the other app's lock carries a copy written for tally.app
        api.create_app(theirs)
        api.patch(f"/apps/{theirs}/config-vars",
                  api.get(f"/apps/{lock.lock_app_name(tally.app)}/config-vars"))
        stages = tally.root.parent / "other.yaml"
        stages.write_text(f"herotasks:\n  stages:\n    other: {{app: {other}}}\n")
        done = tally.inv("-f", str(stages), "deploy.recover", "--stage", "other",
                         check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert tally.app in lines[0] and other in lines[0]
        assert "nothing was changed" in lines[0]
        assert tally.state()["maintenance"] is True  # not touched
        assert not journal_file(tally).exists()
        assert not (journal_file(tally).parent / f"{other}.json").exists()
    finally:
        api.request("DELETE", f"/apps/{theirs}")
        api.request("DELETE", f"/apps/{other}")
    assert recover(tally).returncode == 0
    assert_clean(tally.state())


# -- 2. recover's exit code and last line --------------------------------------------

def test_recover_fails_when_an_undo_fails_and_says_undone_when_done(tally, admin):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="2:Standard-1X")
    killed(tally, "after", "maintenance.on")
    admin.post("/faults", {"method": "PATCH", "path": r"^/apps/[^/]+/formation$",
                           "status": 503, "count": 20})
    try:
        done = recover(tally)
    finally:
        admin.delete("/faults")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "workers.stop" in last_line(done)
    assert ": ok" not in done.stdout
    assert ("worker", 0, "Standard-1X") in tally.state()["formation"]

    done = recover(tally)
    assert done.returncode == 0, done.stdout + done.stderr
    assert last_line(done).startswith("recover: undone"), done.stdout
    assert ": ok" not in done.stdout
    state = tally.state()
    assert_clean(state)
    assert state["formation"] == [("web", 1, "Standard-1X"),
                                  ("worker", 2, "Standard-1X")]


def test_recover_that_finishes_says_finished(tally):
    tally.deploy()
    killed(tally, "after", "slug.promote")
    done = recover(tally)
    assert done.returncode == 0
    assert last_line(done).startswith("recover: finished"), done.stdout
    assert len(tally.applied()) == 2


# -- 4. refused before changing anything: nothing open -------------------------------

def test_a_lock_acquire_refused_with_403_leaves_nothing_open(tally, api, admin):
    tally.deploy()
    name = lock.lock_app_name(tally.app)
    api.create_app(name)  # another account's, unshared: every read is a 403
    admin.post("/faults", {"path": rf"^/apps/{name}/config-vars$", "status": 403,
                           "count": 50})
    try:
        tally.add_migration()
        done, _ = tally.deploy(check=False)
    finally:
        admin.delete("/faults")
        api.request("DELETE", f"/apps/{name}")
    assert done.returncode == 1 and "403" in done.stderr.strip().splitlines()[-1]
    status = tally.inv("deploy.status", "--stage", "production").stdout
    assert "UNFINISHED" not in status, status
    _, report = tally.deploy()
    assert report["ok"] and len(tally.applied()) == 2


def test_a_hand_run_scratch_create_refused_with_403_leaves_nothing_open(tally,
                                                                        admin):
    tally.deploy()
    admin.post("/faults", {"method": "POST", "path": r"^/apps$", "status": 403})
    try:
        done = tally.inv("scratch.create", "--stage", "production", check=False)
    finally:
        admin.delete("/faults")
    assert done.returncode == 1 and "403" in done.stderr
    status = tally.inv("deploy.status", "--stage", "production").stdout
    assert "UNFINISHED" not in status, status
    assert not tally.state()["scratch"]
    tally.add_migration()
    _, report = tally.deploy()
    assert report["ok"]


# -- 5. a damaged lock copy is one line ----------------------------------------------

DAMAGED = ["not json {", "[1, 2]", '{"version": 1}',
           '{"version": 1, "app": "APP", "deploy_id": "d", "facts": {"plan": ["x"]}}',
           '{"version": 1, "app": "APP", "deploy_id": "d", "facts": {"pid": "12"}}']


def test_a_damaged_lock_copy_is_one_line(tally):
    tally.deploy()
    killed(tally, "after", "maintenance.on")
    journal_file(tally).unlink()  # a clone without a journal
    name = lock.lock_app_name(tally.app)
    for copy in DAMAGED:
        tally.api.patch(f"/apps/{name}/config-vars",
                        {lock.JOURNAL_VAR: copy.replace("APP", tally.app)})
        for task in ("deploy.recover", "deploy.status"):
            done = tally.inv(task, "--stage", "production", check=False)
            assert done.returncode == 1 and "Traceback" not in done.stderr, (
                copy, task, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "damaged" in lines[0], (copy, task,
                                                               done.stderr)
        assert tally.state()["maintenance"] is True  # nothing was changed
        assert not journal_file(tally).exists()


# -- 7. --keep-code past the promotion: the migration stays pending ------------------

def test_keep_code_after_the_promotion_keeps_the_migration_pending(tally):
    tally.deploy()
    killed(tally, "after", "slug.promote")
    source = tally.git("rev-parse", "HEAD")
    done = recover(tally, "--keep-code")
    assert done.returncode == 0, done.stdout + done.stderr
    last = last_line(done)
    assert last.startswith("recover: kept code without migration"), done.stdout
    assert "db.migrate --stage production" in last
    assert len(tally.applied()) == 1 and not tally.state()["maintenance"]
    status = tally.inv("deploy.status", "--stage", "production").stdout
    assert source[:10] in status and "migrations pending" in status, status
    assert "tally/migrations changed" in status  # the layout's migrations folder

    tally.inv("db.migrate", "--stage", "production")  # the way out it offered
    assert len(tally.applied()) == 2
    status = tally.inv("deploy.status", "--stage", "production").stdout
    assert "migrations none" in status, status
    assert_clean(tally.state())


# -- 9. a scratch app whose creation answer was lost is ours --------------------------

def test_a_scratch_app_whose_create_answer_was_lost_is_claimed(tally, admin):
    tally.deploy()
    tally.add_migration()
    # both creates of the deploy (the lock's, then the scratch app's) are
    # made by Heroku, and their answers lost
    admin.post("/faults", {"method": "POST", "path": r"^/apps$", "status": 503,
                           "after": True, "count": 2})
    try:
        done, report = tally.deploy(check=False)
    finally:
        hits = admin.get("/faults")
        admin.delete("/faults")
    assert all(f["hits"] == 2 for f in hits), hits  # both answers were lost
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["ok"] and len(tally.applied()) == 2
    assert_clean(tally.state())  # the scratch app was ours, and is gone
    tally.commit({"index.html": "v3\n"})
    _, report = tally.deploy()  # and nothing is refused as someone else's
    assert report["ok"]
