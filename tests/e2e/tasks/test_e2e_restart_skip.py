"""The window's restart after the migration is skipped when no dyno of the
new release connected to the database before the migration ended (issue 18).

The promotion (inside the window, preboot off) already booted the web dynos
on the new release; they boot during the migration and get no traffic
(maintenance on, workers at zero). Rails under puma and Django under
gunicorn open no database connection at boot, so none of them read the
schema before it changed: the migration's held dyno (db.prestart) counts
the connections opened since ~2 s before `go` and says 0, and
``dynos.restart`` skips the restart (one line why). A release whose web
process does connect at boot is counted and restarted. Everything asserted
is an effect: the held dyno's own line, the restart request the sandbox saw
or not, the rows the pages write after the schema changed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from herotasks_sandbox.postgres import find_bin_dir
from tests.support.e2e import RequestLog
from tests.support.examples import Deployer, example_repo, get

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_bin_dir() is None, reason="no PostgreSQL on this machine "
                       "(scripts/bootstrap installs it where it can)"),
]

COUNT = re.compile(r"^herotasks: connections since go: (\d+)$", re.M)
SKIPPED = "opened a database connection before the migration ended: no restart needed"


def venv_first(env: dict) -> dict:
    """``env`` with this venv first on PATH: tally's asset command
    (collectstatic) runs its python."""
    return {**env, "PATH": str(Path(sys.executable).parent) + os.pathsep
            + env.get("PATH", os.defpath)}


def window_steps(report: dict) -> dict[str, float]:
    """The window's steps and their seconds, as the report has them."""
    return {s["name"]: round(s["finished_at"] - s["started_at"], 2)
            for s in report["steps"] if s["in_window"]}


def restarts(log: RequestLog, app: str) -> list[str]:
    """Restart-all requests for ``app`` (``DELETE /apps/{app}/dynos``) since the mark."""
    return [line for line in log.lines() if f'"DELETE /apps/{app}/dynos ' in line]


def db_url(api, name: str) -> str:
    api.post(f"/apps/{name}/addons", {"plan": "heroku-postgresql:essential-0"})
    return api.get(f"/apps/{name}/config-vars")["DATABASE_URL"]


def columns(url: str, table: str) -> set[str]:
    import psycopg
    with psycopg.connect(url, connect_timeout=30) as conn:
        return {r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_name = %s",
            (table,))}


def count_rows(url: str, sql: str) -> int:
    import psycopg
    with psycopg.connect(url, connect_timeout=30) as conn:
        return conn.execute(sql).fetchone()[0]


#: tally v2's web process with a companion that connects to the database as
#: the dyno boots and keeps the connection (as an app whose boot reads the
#: schema would), then gunicorn as before
CONNECT_AT_BOOT = (
    "web: python -c \"import os, time, psycopg; "
    "c = psycopg.connect(os.environ['DATABASE_URL']); time.sleep(3600)\" & "
    "exec gunicorn tally.wsgi --bind 0.0.0.0:$PORT --workers 2 --threads 4 "
    "--access-logfile -\n"
    "worker: python manage.py worker\n")


@pytest.fixture
def tally_example(sandbox, api, tools, git_env, tmp_path):
    """tally v1 deployed on a new app with the Postgres add-on: (deploy,
    name, database url, repo, web url)."""
    name = tools.unique("tallyrs")
    api.create_app(name)
    try:
        url = db_url(api, name)
        repo = example_repo(tmp_path, "tally")
        deploy = Deployer(repo, name, venv_first(git_env))
        deploy("v1")
        web_url = api.get(f"/apps/{name}")["web_url"].rstrip("/")
        yield deploy, name, url, repo, web_url
    finally:
        api.request("DELETE", f"/apps/{name}")


def test_tally_a_window_migration_skips_the_restart_and_the_new_code_writes(
        tally_example, sandbox, tools):
    deploy, name, url, _, web_url = tally_example
    assert "user_agent" not in columns(url, "counter_job")
    log = RequestLog(sandbox.root)
    report, output = deploy("v2")
    # a window; the restart step is in it, and did nothing, saying why
    assert report["windows"]["maintenance"] is not None
    assert list(window_steps(report)) == ["slug.promote", "db.migrate",
                                          "dynos.restart", "dynos.wait"]
    assert COUNT.findall(output) == ["0"], output
    assert SKIPPED in output
    assert restarts(log, name) == []
    # the schema changed under dynos that were never restarted, and the new
    # code's page writes (a Job with the new NOT NULL column) and answers
    assert "user_agent" in columns(url, "counter_job")
    assert tools.wait_until(lambda: get(web_url + "/up", sandbox).text.strip() == "tally v2",
                            timeout=60, what="v2 serving")
    before = count_rows(url, "select count(*) from counter_job")
    page = get(web_url + "/", sandbox)
    assert page.status_code == 200, page.text[:500]
    assert count_rows(url, "select count(*) from counter_job") == before + 1


def test_tally_a_release_that_connects_at_boot_is_restarted(
        tally_example, sandbox, api, tools, git_env):
    deploy, name, url, repo, web_url = tally_example
    # a slow migration, so the new dynos boot (and connect) while it runs
    api.patch(f"/apps/{name}/config-vars", {"TALLY_MIGRATION_SECONDS": "4"})
    subprocess.run(["git", "checkout", "-q", "-b", "connects", "v2"], cwd=repo,
                   check=True)
    (repo / "Procfile").write_text(CONNECT_AT_BOOT)
    tools.git(repo, git_env, "commit", "-q", "-am", "web connects at boot")
    log = RequestLog(sandbox.root)
    report, output = deploy("connects")
    counted = COUNT.findall(output)
    assert len(counted) == 1 and int(counted[0]) >= 1, output
    assert SKIPPED not in output
    assert len(restarts(log, name)) == 1
    assert "user_agent" in columns(url, "counter_job")
    assert tools.wait_until(lambda: get(web_url + "/up", sandbox).text.strip() == "tally v2",
                            timeout=60, what="v2 serving")
    assert get(web_url + "/", sandbox).status_code == 200


def test_ledger_the_drop_column_window_skips_the_restart_and_pages_write(
        sandbox, api, tools, git_env, tmp_path):
    """The benchmark's scenario: ledger v3 drops the columns v2 added."""
    name = tools.unique("ledgerrs")
    api.create_app(name)
    try:
        url = db_url(api, name)
        deploy = Deployer(example_repo(tmp_path, "ledger"), name, venv_first(git_env))
        deploy("v1")
        deploy("v2")
        assert "referrer" in columns(url, "jobs")
        log = RequestLog(sandbox.root)
        report, output = deploy("v3")
        timings = window_steps(report)
        print(f"ledger v3 window: {report['windows']['maintenance']}; steps {timings}")
        assert list(timings) == ["slug.promote", "db.migrate", "dynos.restart",
                                 "dynos.wait"]
        assert COUNT.findall(output) == ["0"], output
        assert SKIPPED in output
        assert restarts(log, name) == []
        assert "referrer" not in columns(url, "jobs")
        web_url = api.get(f"/apps/{name}")["web_url"].rstrip("/")
        assert tools.wait_until(lambda: get(web_url + "/up", sandbox).text == "ledger v3",
                                timeout=60, what="v3 serving")
        before = count_rows(url, "select count(*) from jobs")
        page = get(web_url + "/", sandbox)
        assert page.status_code == 200, page.text[:500]
        assert count_rows(url, "select count(*) from jobs") == before + 1
    finally:
        api.request("DELETE", f"/apps/{name}")
