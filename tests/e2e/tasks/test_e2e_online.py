"""Migrations without a window, end to end on the sandbox: a backward
compatible migration runs from the scratch app while the old code serves,
workers running and no maintenance; a destructive one still takes the window;
a broken release after an online migration is rolled back, since the old
code runs on the new schema. A contract (a drop the new code no longer
needs) runs after the release, once the old release's dynos are gone, with
no window; rolling back past it is refused."""

from __future__ import annotations

import pytest

from tests.support.e2e import probe_config, shots
from tests.support.projects import (
    CRASHING_WORKER,
    assert_clean,
    health_file,
    new_project,
    steps,
    window,
)

pytestmark = pytest.mark.e2e

CREATE = """class CreateWidgets < ActiveRecord::Migration[7.1]
  def change
    create_table :widgets do |t|
      t.string :name
      t.timestamps
    end
  end
end
"""
REMOVE = """class RemoveNameFromWidgets < ActiveRecord::Migration[7.1]
  def change
    remove_column :widgets, :name, :string
  end
end
"""


@pytest.fixture
def rails(sandbox, api, tools, git_env, tmp_path):
    yield from new_project("rails", api, tools, git_env, tmp_path)


def deployed(proj):
    proj.deploy()
    proj.scale(web="1:Standard-1X", worker="2:Standard-1X")
    return proj.current()


def test_an_additive_migration_runs_while_the_old_code_serves(rails):
    before = deployed(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    plan = rails.inv("deploy.plan", "--stage", "production").stdout
    assert "online  db/migrate/002_create_widgets.rb (create_table)" in plan
    probe, out = probe_config(rails, ("after", "db.premigrate"))
    _, report = rails.deploy(runtime=probe)
    assert report["ok"] and report["migrations"]["pending"]
    # no window of any kind, and the migration ran before the promotion
    assert window(report) == []
    assert report["windows"] == {"maintenance": None, "workers_down": None}
    names = steps(report)
    assert names.index("db.premigrate") < names.index("slug.promote")
    assert "workers.stop" not in names and "db.migrate" not in names
    # the old code still served, workers running, when the schema had changed
    shot = shots(out)[("after", "db.premigrate")]
    assert shot["maintenance"] is False and shot["formation"]["worker"] == 2
    assert len(rails.applied()) == 2
    assert rails.current()["id"] != before["id"]
    state = rails.state()
    assert_clean(state)
    assert state["formation"] == [("web", 1, "Standard-1X"), ("worker", 2, "Standard-1X")]


DROP = """class DropWidgets < ActiveRecord::Migration[7.1]
  def change
    drop_table :widgets
  end
end
"""


def test_a_contract_runs_after_the_old_release_is_gone_with_no_window(rails):
    deployed(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    rails.deploy()
    live = rails.current()["version"]
    rails.commit({"db/migrate/003_drop_widgets.rb": DROP})
    plan = rails.inv("deploy.plan", "--stage", "production").stdout
    assert "after   db/migrate/003_drop_widgets.rb (contract: drop_table" in plan
    assert "window:      none (contract migrations after the release" in plan
    probe, out = probe_config(rails, ("before", "db.postmigrate"),
                              ("after", "db.postmigrate"))
    _, report = rails.deploy(runtime=probe)
    assert report["ok"]
    assert window(report) == []
    assert report["windows"] == {"maintenance": None, "workers_down": None}
    names = steps(report)
    assert names.index("slug.promote") < names.index("health.check") \
        < names.index("db.postmigrate")
    assert "db.migrate" not in names and "db.premigrate" not in names
    taken = shots(out)
    # until the contract the new code served on the old schema; once it ran,
    # no dyno of the release before was left, workers ran throughout
    assert len(rails.applied()) == 3
    for when in ("before", "after"):
        shot = taken[(when, "db.postmigrate")]
        assert shot["maintenance"] is False and shot["formation"]["worker"] == 2
    after = taken[("after", "db.postmigrate")]
    new = rails.current()["version"]
    assert new > live
    assert all(d["version"] == new for d in after["dynos"]
               if d["type"] in ("web", "worker")), after["dynos"]
    assert_clean(rails.state())
    # the release before uses the dropped table: rolling back to it is refused
    done = rails.inv("deploy.rollback", "--stage", "production", check=False)
    assert done.returncode != 0
    assert f"refusing to roll back to v{live}" in done.stderr, done.stderr
    assert rails.current()["version"] == new
    assert "Traceback" not in done.stderr


def test_a_dropped_column_that_may_be_not_null_still_takes_the_window(rails):
    deployed(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    rails.deploy()
    rails.commit({"db/migrate/003_remove_name.rb": REMOVE})
    plan = rails.inv("deploy.plan", "--stage", "production").stdout
    assert "after   db/migrate/003_remove_name.rb (contract: remove_column" in plan
    assert "drops column widgets.name: if it is NOT NULL" in plan
    _, report = rails.deploy()
    assert report["ok"] and "db.migrate" in window(report)
    assert "db.premigrate" not in steps(report)
    assert len(rails.applied()) == 3


def test_a_broken_release_after_an_online_migration_is_rolled_back(rails):
    before = deployed(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE,
                  "Procfile": CRASHING_WORKER})
    done, report = rails.deploy(check=False, runtime=health_file(rails, watch=10))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    # the health check sees the crash, or (on a slow machine) dynos.wait
    # already did: either way the release is rolled back
    assert ("health check" in last or "dynos.wait failed" in last), last
    assert "crashed" in last and "rolled back" in last
    # the old code is back on the new schema, which it can run on
    assert rails.current()["slug"]["id"] == before["slug"]["id"]
    assert len(rails.applied()) == 2
    assert_clean(rails.state())


@pytest.mark.parametrize("cut", ["health.check", "db.postmigrate"])
def test_killed_between_the_release_and_the_contract_recover_finishes_it(rails, cut):
    """The kill matrix's cuts for a contract: herotasks dies (kill -9) once the
    new release is live and checked, before db.postmigrate, or right after
    it; deploy.recover finishes what is left, never rolls back, and takes no
    window."""
    deployed(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    rails.deploy()
    rails.commit({"db/migrate/003_drop_widgets.rb": DROP})
    kill = rails.root.parent / "kill.yaml"
    kill.write_text('herotasks:\n  hooks: {"after": {"%s": ["kill -9 $PPID"]}}\n' % cut)
    done, _ = rails.deploy(check=False, runtime=kill)
    assert done.returncode != 0
    live = rails.current()
    # cut before the contract, or just after it
    assert len(rails.applied()) == (2 if cut == "health.check" else 3)
    said = rails.inv("deploy.recover", "--stage", "production")
    text = said.stdout + said.stderr
    assert "recover: finish" in text, text
    assert ("db.postmigrate" in text) == (cut == "health.check"), text
    assert len(rails.applied()) == 3
    assert rails.current()["id"] == live["id"]  # the new release stays
    state = rails.state()
    assert state["maintenance"] is False
    assert_clean(state)


def test_a_nullable_column_dropped_takes_no_window(rails):
    """The deployed db/schema.rb shows the column nullable: the new code's
    INSERTs work on it until the contract drops it, so no window."""
    deployed(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE,
                  "db/schema.rb": SCHEMA_WITH_NAME})
    rails.deploy()
    rails.commit({"db/migrate/003_remove_name.rb": REMOVE,
                  "db/schema.rb": SCHEMA_WITH_NAME.replace('    t.string "name"\n', "")})
    plan = rails.inv("deploy.plan", "--stage", "production").stdout
    assert "nullable or with a default in db/schema.rb" in plan
    _, report = rails.deploy()
    assert report["ok"] and window(report) == []
    assert "db.postmigrate" in steps(report) and "db.migrate" not in steps(report)
    assert len(rails.applied()) == 3


SCHEMA_WITH_NAME = """ActiveRecord::Schema[7.1].define(version: 2) do
  create_table "widgets", force: :cascade do |t|
    t.string "name"
    t.datetime "created_at", null: false
    t.datetime "updated_at", null: false
  end
end
"""


def test_a_failed_contract_keeps_the_release_and_says_how_to_finish(rails):
    deployed(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    rails.deploy()
    rails.commit({"db/migrate/003_drop_widgets.rb": DROP})
    rails.api.patch(f"/apps/{rails.app}/config-vars", {"FAIL_MIGRATION": "1"})
    before = rails.current()["version"]
    done, report = rails.deploy(check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "db.postmigrate failed: contract migrations failed" in last, last
    assert "heroku run" in done.stderr and "Traceback" not in done.stderr
    # never rolled back: the old code would miss what the contract dropped
    assert rails.current()["version"] > before
    assert window(report) == []
    assert_clean(rails.state())
