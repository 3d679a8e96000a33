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
    """Without a PostgreSQL DATABASE_URL herotasks cannot make the column
    nullable first: the window, and the plan says why."""
    deployed(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    rails.deploy()
    rails.commit({"db/migrate/003_remove_name.rb": REMOVE})
    plan = rails.inv("deploy.plan", "--stage", "production").stdout
    assert "after   db/migrate/003_remove_name.rb (contract: remove_column" in plan
    assert "drops column widgets.name: if it is NOT NULL" in plan
    assert "no PostgreSQL DATABASE_URL" in plan
    _, report = rails.deploy()
    assert report["ok"] and "db.migrate" in window(report)
    assert "db.premigrate" not in steps(report)
    assert len(rails.applied()) == 3


def with_postgres(proj) -> str:
    """The app gets the sandbox's heroku-postgresql add-on (a real, SSL-only
    PostgreSQL): its DATABASE_URL (the stand-in migrations never touch it)."""
    proj.api.post(f"/apps/{proj.app}/addons", {"plan": "heroku-postgresql:essential-0"})
    return proj.api.get(f"/apps/{proj.app}/config-vars")["DATABASE_URL"]


def sql(url: str, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, connect_timeout=30, autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


NULLABLE = ("select attnotnull from pg_attribute where attrelid = 'widgets'::regclass "
            "and attname = 'name'")


def test_a_not_null_column_dropped_is_made_nullable_first_with_no_window(rails):
    """Issue 16, item 2: the contract drops widgets.name, NOT NULL without a
    default in the database. herotasks makes it nullable before the release
    (db.expand, a one-off dyno on the scratch app running psql on the app's
    DATABASE_URL) while the old code serves, then releases with preboot and
    contracts after the old release is gone: no window at all. (Before, the
    deploy took the window.)"""
    deployed(rails)
    url = with_postgres(rails)
    sql(url, "create table widgets (id serial primary key, name text not null, "
             "created_at timestamptz not null default now())")
    sql(url, "insert into widgets (name) values ('old code writes it')")
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    rails.deploy()
    live = rails.current()["version"]
    rails.commit({"db/migrate/003_remove_name.rb": REMOVE})
    plan = rails.inv("deploy.plan", "--stage", "production").stdout
    assert "expand before the release: widgets.name made nullable" in plan, plan
    assert "window:      none (dropped columns made nullable before the release" in plan
    probe, out = probe_config(rails, ("before", "db.expand"), ("after", "db.expand"))
    done, report = rails.deploy(runtime=probe)
    assert report["ok"], done.stderr
    assert window(report) == []
    assert report["windows"] == {"maintenance": None, "workers_down": None}
    names = steps(report)
    assert (names.index("slug.build") < names.index("db.expand")
            < names.index("slug.promote") < names.index("db.postmigrate"))
    assert "db.migrate" not in names and "workers.stop" not in names
    # the dyno's psql said what it did
    assert "herotasks expand: widgets.name: NOT NULL dropped" in done.stdout + done.stderr
    # while the expand ran the old release served alone, workers running
    for when in ("before", "after"):
        shot = shots(out)[(when, "db.expand")]
        assert shot["maintenance"] is False and shot["formation"]["worker"] == 2
        assert {d["version"] for d in shot["dynos"]
                if d["type"] in ("web", "worker")} == {live}, shot["dynos"]
    # the new code's INSERTs, which leave the column out, now work
    assert sql(url, NULLABLE) == [(False,)]
    sql(url, "insert into widgets (created_at) values (now())")
    assert sql(url, "select count(*) from widgets where name is null") == [(1,)]
    assert len(rails.applied()) == 3
    assert_clean(rails.state())


def test_killed_right_after_the_expand_recover_undoes_and_keeps_it(rails):
    """The kill matrix's cut for db.expand (it needs a real database, which
    the matrix's apps lack): herotasks dies (kill -9) right after it, before
    the release. deploy.recover undoes the rest (nothing went live); the
    column stays nullable, which the old code runs on as before; the next
    deploy finds it so and goes on with no window."""
    deployed(rails)
    url = with_postgres(rails)
    sql(url, "create table widgets (id serial primary key, name text not null)")
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    rails.deploy()
    live = rails.current()
    rails.commit({"db/migrate/003_remove_name.rb": REMOVE})
    kill = rails.root.parent / "kill.yaml"
    kill.write_text('herotasks:\n  hooks: {"after": {"db.expand": ["kill -9 $PPID"]}}\n')
    done, _ = rails.deploy(check=False, runtime=kill)
    assert done.returncode != 0
    assert rails.current()["id"] == live["id"]
    said = rails.inv("deploy.recover", "--stage", "production")
    text = said.stdout + said.stderr
    assert "recover: undone" in text, text
    assert rails.current()["id"] == live["id"] and len(rails.applied()) == 2
    assert_clean(rails.state())
    # kept: harmless for the old code, and the deploy after finds it done
    assert sql(url, NULLABLE) == [(False,)]
    done, report = rails.deploy()
    assert report["ok"] and window(report) == []
    assert "herotasks expand: widgets.name: already nullable" in done.stdout + done.stderr
    assert len(rails.applied()) == 3


def test_an_expand_that_cannot_run_stops_before_the_release(rails):
    """The table the contract names is not in the database: herotasks cannot
    tell what it would make nullable, so db.expand fails and nothing is
    released; the unwinding puts everything back."""
    before = deployed(rails)
    with_postgres(rails)
    rails.commit({"db/migrate/002_create_widgets.rb": CREATE})
    rails.deploy()
    live = rails.current()
    rails.commit({"db/migrate/003_remove_name.rb": REMOVE})
    done, report = rails.deploy(check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "db.expand failed: could not make widgets.name nullable" in last, last
    assert "nothing was released" in last and "Traceback" not in done.stderr
    assert "herotasks expand: no table" in done.stdout + done.stderr
    assert rails.current()["id"] == live["id"] != before["id"]
    assert len(rails.applied()) == 2
    state = rails.state()
    assert_clean(state)
    assert state["formation"] == [("web", 1, "Standard-1X"), ("worker", 2, "Standard-1X")]


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
