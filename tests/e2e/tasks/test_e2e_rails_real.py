"""The write-up's own app: a real Rails app (examples/ledger) on the sandbox.

ledger is a Rails 6.1 app on this machine's (Debian's) gems, built by the
sandbox's Ruby buildpack as heroku-buildpack-ruby builds it: the lock's gems
into the slug's vendor/bundle, assets:precompile skipped for a committed
sprockets manifest (else run), the buildpack's RAILS_ENV, SECRET_KEY_BASE,
RAILS_SERVE_STATIC_FILES defaults in .profile.d. Everything asserted is an
effect: pages and the stylesheet the router serves, tables and rows in the
add-on's database, the build output, the deploy report's windows.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from herotasks_sandbox.postgres import find_bin_dir
from tests.support.examples import Deployer, example_repo, get

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("ruby") is None or shutil.which("bundle") is None,
        reason="no Ruby/bundler on this machine: scripts/bootstrap installs them "
               "(apt-get install ruby bundler ruby-rails ruby-pg puma ruby-sass-rails)"),
]


def ledger(tmp_path: Path, tag: str) -> Path:
    """The ledger example's history (examples/make_repo.py), at ``tag``."""
    repo = example_repo(tmp_path, "ledger")
    subprocess.run(["git", "checkout", "-q", tag], cwd=repo, check=True)
    return repo


def stylesheet(page: str) -> str:
    """The digested stylesheet path the layout links to."""
    found = re.search(r'href="(/assets/application-[0-9a-f]{64}\.css)"', page)
    assert found, page
    return found[1]


def steps(report: dict) -> dict[str, dict]:
    return {s["name"]: s for s in report["steps"]}


@pytest.mark.skipif(find_bin_dir() is None, reason="no PostgreSQL on this machine "
                    "(scripts/bootstrap installs it where it can)")
def test_ledger_deploys_with_the_rails_preset_and_answers(
        sandbox, api, tools, git_env, tmp_path):
    import psycopg

    name = tools.unique("ledger")
    api.create_app(name)
    try:
        api.post(f"/apps/{name}/addons", {"plan": "heroku-postgresql:essential-0"})
        db_url = api.get(f"/apps/{name}/config-vars")["DATABASE_URL"]
        deploy = Deployer(ledger(tmp_path, "v1"), name, git_env)

        # v1: assets compiled here into the deploy commit, with the manifest;
        # the build skips the compile; the first migration runs.
        report, output = deploy("v1")
        ran = steps(report)
        assert not ran["assets.precompile"]["skipped"]
        assert "Detected manifest file, assuming assets were compiled locally" in output
        assert "Running: rake assets:precompile" not in output
        assert report["migrations"]["pending"]
        with psycopg.connect(db_url, connect_timeout=30) as conn:
            versions = {r[0] for r in conn.execute("select version from "
                                                   "schema_migrations")}
        assert versions == {"20250101000001"}

        # The production app answers 200 (RAILS_ENV, SECRET_KEY_BASE from the
        # buildpack's .profile.d) and serves the compiled stylesheet itself
        # (RAILS_SERVE_STATIC_FILES).
        web_url = api.get(f"/apps/{name}")["web_url"].rstrip("/")
        page = tools.wait_until(lambda: (r := get(web_url + "/", sandbox)).status_code
                                == 200 and r, timeout=90, what="the ledger's page")
        assert "visits counted" in page.text
        css = get(web_url + stylesheet(page.text), sandbox)
        assert css.status_code == 200 and ".shade-4000" in css.text
        assert get(web_url + "/up", sandbox).text == "ledger v1"

        # The worker (rake ledger:work) turns the page's job into a visit.
        api.patch(f"/apps/{name}/formation",
                  {"updates": [{"type": "worker", "quantity": 1}]})

        def counted():
            with psycopg.connect(db_url, connect_timeout=30) as conn:
                return conn.execute("select count(*) from visits").fetchone()[0] >= 1
        tools.wait_until(counted, timeout=90, what="the worker counting a visit")

        # v2, additive (nullable columns): migrated while the old code serves;
        # no maintenance window, workers never stopped.
        report, _ = deploy("v2")
        assert report["migrations"]["pending"]
        assert report["windows"]["maintenance"] is None
        assert report["windows"]["workers_down"] is None

        # v3 drops the columns v2 writes: a window, workers stopped meanwhile.
        report, _ = deploy("v3")
        assert report["windows"]["maintenance"] is not None
        assert report["windows"]["workers_down"] is not None
        with psycopg.connect(db_url, connect_timeout=30) as conn:
            columns = {r[0] for r in conn.execute(
                "select column_name from information_schema.columns "
                "where table_name = 'visits'")}
        assert "referrer" not in columns and "path" in columns
        assert tools.wait_until(lambda: get(web_url + "/up", sandbox).text == "ledger v3",
                                timeout=60, what="v3 serving")
        assert get(web_url + "/", sandbox).status_code == 200
    finally:
        api.request("DELETE", f"/apps/{name}")


def test_a_rails_app_pushed_without_a_manifest_gets_its_assets_compiled(
        sandbox, api, tools, git_env, tmp_path):
    """A plain ``git push`` of ledger (no herotasks, no committed assets, no
    Procfile): the buildpack runs assets:precompile and assets:clean, and
    its default web process serves the compiled stylesheet."""
    name = tools.unique("ledgerpush")
    app = api.create_app(name)
    try:
        repo = ledger(tmp_path, "v1")
        tools.git(repo, git_env, "rm", "-q", "Procfile")
        tools.git(repo, git_env, "commit", "-q", "-m", "no Procfile: the defaults")
        done = tools.git(repo, git_env, "push", app["git_url"], "HEAD:refs/heads/main",
                         timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        out = done.stderr
        assert "remote: -----> Using Ruby version: ruby-3.1.2" in out
        assert "remote: -----> Preparing app for Rails asset pipeline" in out
        assert "remote:        Running: rake assets:precompile" in out
        assert "remote:        Asset precompilation completed" in out
        assert "remote:        Running: rake assets:clean" in out
        assert "Detected manifest file" not in out
        assert "Default types for buildpack -> console, rake, web" in out

        dynos = tools.wait_until(lambda: api.get(f"/apps/{name}/dynos"), timeout=30,
                                 what="a web dyno")
        assert dynos[0]["command"] == "bin/rails server -p ${PORT:-5000} -e $RAILS_ENV"
        web_url = api.get(f"/apps/{name}")["web_url"].rstrip("/")
        up = tools.wait_until(lambda: (r := get(web_url + "/up", sandbox)).status_code
                              == 200 and r, timeout=90, what="/up")
        assert up.text == "ledger v1"
        # No database: the page itself fails, the layout's stylesheet is
        # still served from what the build compiled.
        manifest = json.loads(get_manifest(sandbox, api, name))
        asset = manifest["assets"]["application.css"]
        assert get(f"{web_url}/assets/{asset}", sandbox).status_code == 200
    finally:
        api.request("DELETE", f"/apps/{name}")


def get_manifest(sandbox, api, app: str) -> str:
    """The sprockets manifest in the app's current slug (the build wrote it)."""
    release = api.get(f"/apps/{app}/releases")[-1]
    assets = Path(sandbox.root) / "slugs" / release["slug"]["id"] / "public" / "assets"
    found = list(assets.glob(".sprockets-manifest-*.json"))
    assert len(found) == 1, f"manifests in {assets}: {found}"
    return found[0].read_text()
