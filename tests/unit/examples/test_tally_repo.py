"""examples/make_repo.py: the tally history as three tagged, reproducible commits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from invoke import Config

from tests.support.tally import MAKE_REPO, git, make_repo


def changed(repo, old: str, new: str) -> list[str]:
    return git(repo, "diff", "--name-only", old, new).splitlines()


def test_eight_commits_tagged_in_order(tally_repo):
    log = git(tally_repo, "log", "--format=%H %s", "main").splitlines()
    order = ("v8", "v7", "v6", "v5", "v4", "v3", "v2", "v1")
    assert len(log) == len(order)
    tags = [git(tally_repo, "rev-parse", f"{t}^{{commit}}") for t in order]
    assert [line.split()[0] for line in log] == tags
    assert [line.split()[1] for line in log] == [f"{t}:" for t in order]


def test_v4_is_online_and_v2_needs_the_window(tally_repo):
    """What herotasks' classifier makes of the example's migrations."""
    from herotasks.core.classify import classify

    def verdict(tag, path):
        return classify("django", path, git(tally_repo, "show", f"{tag}:{path}"))

    assert verdict("v2", "counter/migrations/0002_user_agent.py").kind == "window"
    v4 = verdict("v4", "counter/migrations/0003_referrer.py")
    assert v4.kind == "online" and "marker" in v4.reason
    assert changed(tally_repo, "v4", "v5") == ["counter/views.py", "tally/version.py"]
    # v7 is v6's code with a fault that only traffic shows
    assert changed(tally_repo, "v6", "v7") == ["counter/views.py", "tally/version.py"]


def test_v6_is_a_contract_the_plan_runs_with_no_window(tally_repo):
    """v6 drops the referrer columns v4 added nullable: after, and the gap
    is proven safe from v4's migrations (the schema herotasks finds deployed
    once v5 is rolled back)."""
    from herotasks.core.classify import classify
    from herotasks.core.classify.gap import resolve

    path = "counter/migrations/0004_drop_referrer.py"
    assert changed(tally_repo, "v4", "v6") == [
        path, "counter/models.py", "tally/version.py"]
    verdict = classify("django", path, git(tally_repo, "show", f"v6:{path}"))
    assert verdict.kind == "after"
    assert verdict.column_drops == ("job.referrer", "visit.referrer")

    def at_v4(name):
        done = subprocess.run(["git", "show", f"v4:{name}"], cwd=tally_repo,
                              capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else None

    proven, = resolve("django", [verdict], at_v4)
    assert proven.column_drops == ()
    assert "referrer" not in git(tally_repo, "show", "v6:counter/models.py").split(
        '"""', 2)[2]


def test_v8_drops_not_null_columns_the_plan_makes_nullable_before_the_release(
        tally_repo, tmp_path):
    """v8 drops the user_agent columns v2 added NOT NULL (Django's default=
    never reaches the database): after, the gap unproven from v6's
    migrations, and from Django's own SQL (the table and column as the
    database names them) the plan makes them nullable first (db.expand) and
    takes no window."""
    from herotasks.core.classify import classify, emitted
    from herotasks.core.classify.gap import resolve
    from herotasks.core.config import Settings
    from herotasks.core.plan import plan_deploy
    from herotasks.core.state import Pending, State

    path = "counter/migrations/0005_drop_user_agent.py"
    # from v6 (what herotasks finds deployed once v7 is rolled back): the
    # contract and the code that no longer names the columns, nothing else
    assert changed(tally_repo, "v6", "v8") == [
        path, "counter/models.py", "counter/templates/counter/index.html",
        "tally/version.py"]
    assert "user_agent" not in git(tally_repo, "show", "v8:counter/models.py").split(
        '"""', 2)[2]
    text = git(tally_repo, "show", f"v8:{path}")

    def at_v6(name):
        done = subprocess.run(["git", "show", f"v6:{name}"], cwd=tally_repo,
                              capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else None

    static, = resolve("django", [classify("django", path, text)], at_v6)
    assert static.kind == "after"
    assert static.column_drops == ("job.user_agent", "visit.user_agent")
    # Django's own SQL, as the check step gets it (the project's Python over
    # the v8 tree, no database)
    tree = tmp_path / "v8"
    git(tally_repo, "worktree", "add", "--detach", str(tree), "v8")

    def run(cmd):
        done = subprocess.run(cmd, shell=True, cwd=tree, capture_output=True,
                              text=True, timeout=120)
        return done.returncode == 0, done.stdout

    sql, why = emitted.django_sql(run, sys.executable, [path])
    assert not why, why
    verdict, = resolve("django", [classify("django", path, text, emitted=sql)], at_v6)
    assert verdict.column_drops == ("counter_job.user_agent", "counter_visit.user_agent")
    settings = Settings.resolve({"herotasks": {
        "preset": "django", "stages": {"production": {"app": "tally"}},
        "migrations": {"command": "python manage.py migrate"}}}, stage="production")
    plan = plan_deploy(State(app="tally", stage="production", new_commit="b" * 40,
                             deployed_commit="a" * 40, current_version=9,
                             pending=Pending(True, "migrations changed"),
                             migrations=(verdict,), database_url=True), settings)
    assert not plan.window, plan.notes
    assert plan.names().index("db.expand") < plan.names().index("slug.promote")
    assert ("counter_job.user_agent, counter_visit.user_agent nullable"
            in plan.step("db.expand").description)


def test_v2_adds_a_migration_and_v3_changes_code_only(tally_repo):
    v2 = changed(tally_repo, "v1", "v2")
    assert "counter/migrations/0002_user_agent.py" in v2
    assert "counter/models.py" in v2
    assert any(path.startswith("counter/static/") for path in v2)

    v3 = changed(tally_repo, "v2", "v3")
    assert v3, "v3 must change something"
    assert not [p for p in v3 if "/migrations/" in p or p.endswith("models.py")]
    assert not [path for path in v3 if "/static/" in path]


def test_build_output_and_databases_are_ignored(tally_repo):
    for path in ("staticfiles/counter/tally.css", "db.sqlite3", "db.sqlite3-wal"):
        assert git(tally_repo, "check-ignore", path) == path
    assert git(tally_repo, "status", "--porcelain") == ""


def test_procfile_has_web_and_worker_and_no_release_phase(tally_repo):
    procfile = (tally_repo / "Procfile").read_text().splitlines()
    kinds = {line.split(":", 1)[0] for line in procfile if line.strip()}
    assert kinds == {"web", "worker"}
    # As a Heroku app binds (gunicorn's default with $PORT set); the
    # sandbox keeps its dynos on loopback whatever they bind.
    assert "--bind 0.0.0.0:$PORT" in procfile[0]


def test_deploy_settings_load_as_invoke_project_config(tally_repo):
    config = Config(project_location=str(tally_repo))
    config.load_project()
    assert config.herotasks.preset == "django"
    assert config.herotasks.stages.production.app == "tally"
    assert config.herotasks.assets.output == "staticfiles"


def test_same_commits_on_every_run(tally_repo, tmp_path):
    again = tmp_path / "again"
    assert make_repo(again).returncode == 0
    for tag in ("v1", "v2", "v3"):
        assert git(again, "rev-parse", tag) == git(tally_repo, "rev-parse", tag)


def test_each_tag_keeps_its_own_files_whatever_their_timestamps(tmp_path):
    # A fresh clone checks out base/ and the overlays within the same second;
    # an overlay file as long as the one it replaces (tally/version.py) then
    # matched git's stat cache and was left out of v2. Equal mtimes everywhere
    # make that the normal case here, not a matter of luck.
    examples = tmp_path / "examples"
    shutil.copytree(MAKE_REPO.parent / "tally", examples / "tally")
    shutil.copy(MAKE_REPO, examples / "make_repo.py")
    for folder, _, files in os.walk(examples):
        for name in files:
            os.utime(os.path.join(folder, name), (1_700_000_000, 1_700_000_000))
    repo = tmp_path / "repo"
    subprocess.run([sys.executable, str(examples / "make_repo.py"), str(repo)],
                   check=True, capture_output=True, timeout=60)
    for tag in ("v1", "v2", "v3"):
        assert f'VERSION = "{tag}"' in git(repo, "show", f"{tag}:tally/version.py")


def test_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    done = make_repo(tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not an empty folder" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_the_apps_own_tasks_py_takes_the_collection(tally_repo, tmp_path):
    """`inv --list` in the app: herotasks' tasks, its configured stage, its own."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(tally_repo), str(clone)], check=True)
    done = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=clone,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    names = {line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()}
    assert {"deploy.production", "db.migrate", "slug.build", "console"} <= names
    assert "deploy.staging" not in names  # only configured stages get a task
