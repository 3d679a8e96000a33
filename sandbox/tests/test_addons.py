"""The heroku-postgresql add-on, driven by the official CLI.

A real PostgreSQL server (the machine's initdb/pg_ctl, run by the sandbox)
provisions each add-on; the checks connect to it from a one-off dyno with
the ``DATABASE_URL`` the app was given, with and without SSL, and after the
add-on (or its app) is gone.
"""

from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from herotasks_sandbox.postgres import MISSING, find_bin_dir

pytestmark = [pytest.mark.cli, pytest.mark.e2e]

needs_postgres = pytest.mark.skipif(
    find_bin_dir() is None, reason="no PostgreSQL on this machine (scripts/bootstrap "
    "installs it where it can)")
# The one-off's psql: SELECT whether this very connection is encrypted.
SSL_QUERY = ('psql "$DATABASE_URL" -Atc '
             '"select ssl from pg_stat_ssl where pid = pg_backend_pid()"')
NO_SSL = 'psql "${DATABASE_URL%%\\?*}?sslmode=disable" -Atc "select 1"'


def psql(url: str):
    """This machine's psql on ``url`` (from the test process), the URL's parts
    in libpq's variables so the password is in no process's arguments."""
    u = urlsplit(url)
    env = {"PATH": os.defpath, "PGHOST": u.hostname, "PGPORT": str(u.port),
           "PGUSER": u.username, "PGPASSWORD": u.password,
           "PGDATABASE": u.path.lstrip("/"),
           "PGSSLMODE": parse_qs(u.query)["sslmode"][0]}
    return subprocess.run([str(find_bin_dir() / "psql"), "-Atc", "select 1"],
                          capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def app_name(api, heroku, tools):
    name = tools.unique("pg")
    heroku.ok("apps:create", name)
    yield name
    api.request("DELETE", f"/apps/{name}")


def run(heroku, app: str, script: str):
    return heroku("run", "--exit-code", "-a", app, "--", "sh", "-c",
                  f"PATH={find_bin_dir()}:$PATH; {script}", timeout=120)


@needs_postgres
def test_create_attaches_database_url_and_it_takes_ssl_only(api, heroku, app_name):
    created = heroku.ok("addons:create", "heroku-postgresql", "-a", app_name)
    assert "as DATABASE_URL" in created.stdout + created.stderr

    [addon] = api.get(f"/apps/{app_name}/addons")
    assert addon["addon_service"]["name"] == "heroku-postgresql"
    assert addon["plan"]["name"] == "heroku-postgresql:essential-0"
    assert addon["state"] == "provisioned" and addon["config_vars"] == ["DATABASE_URL"]
    [attachment] = api.get(f"/apps/{app_name}/addon-attachments")
    assert attachment["name"] == "DATABASE"
    assert attachment["addon"]["id"] == addon["id"]

    listed = heroku.ok("addons", "-a", app_name).stdout
    assert addon["name"] in listed and "as DATABASE" in listed
    config = json.loads(heroku.ok("config", "-a", app_name, "--json").stdout)
    url = config["DATABASE_URL"]
    assert url.startswith("postgres://") and url.endswith("?sslmode=require")
    assert "@127.0.0.1:" in url
    releases = api.get(f"/apps/{app_name}/releases")
    assert releases[-1]["description"] == f"Attach DATABASE (@ref:{addon['name']})"

    # From a dyno, with the URL it was given: SSL works, plain is refused.
    ssl = run(heroku, app_name, SSL_QUERY)
    assert ssl.returncode == 0, ssl.stderr
    assert ssl.stdout.strip().splitlines()[-1] == "t"
    plain = run(heroku, app_name, NO_SSL)
    assert plain.returncode != 0
    assert "no encryption" in plain.stdout + plain.stderr


@needs_postgres
def test_destroy_detaches_and_drops_the_database(api, heroku, app_name):
    heroku.ok("addons:create", "heroku-postgresql", "-a", app_name)
    url = api.get(f"/apps/{app_name}/config-vars")["DATABASE_URL"]
    assert psql(url).stdout.strip() == "1"
    [addon] = api.get(f"/apps/{app_name}/addons")

    heroku.ok("addons:destroy", addon["name"], "-a", app_name, "--confirm", app_name)

    assert api.get(f"/apps/{app_name}/addons") == []
    assert "DATABASE_URL" not in api.get(f"/apps/{app_name}/config-vars")
    assert api.request("GET", f"/addons/{addon['name']}").status_code == 404
    gone = psql(url)
    assert gone.returncode != 0
    assert "password authentication failed" in gone.stderr


@needs_postgres
def test_deleting_the_app_drops_its_database(api, heroku, tools):
    name = tools.unique("pg")
    heroku.ok("apps:create", name)
    heroku.ok("addons:create", "heroku-postgresql", "-a", name)
    url = api.get(f"/apps/{name}/config-vars")["DATABASE_URL"]
    assert psql(url).stdout.strip() == "1"

    heroku.ok("apps:destroy", name, "--confirm", name)

    assert all(a["app"]["name"] != name for a in api.get("/addons"))
    gone = psql(url)
    assert gone.returncode != 0
    assert "password authentication failed" in gone.stderr


@needs_postgres
def test_a_second_database_gets_a_color_and_other_services_are_refused(
        api, heroku, app_name):
    heroku.ok("addons:create", "heroku-postgresql", "-a", app_name)
    second = heroku.ok("addons:create", "heroku-postgresql:essential-1", "-a", app_name)
    config = api.get(f"/apps/{app_name}/config-vars")
    colored = [k for k in config if k.startswith("HEROKU_POSTGRESQL_")]
    assert len(colored) == 1 and colored[0].endswith("_URL")
    assert colored[0] in second.stdout + second.stderr
    assert config[colored[0]] != config["DATABASE_URL"]

    redis = heroku("addons:create", "heroku-redis", "-a", app_name)
    assert redis.returncode != 0
    said = " ".join(line.strip(" ›") for line in redis.stderr.splitlines())
    assert "the sandbox provides only heroku-postgresql" in " ".join(said.split())


def test_without_postgresql_creating_one_fails_with_one_line(heroku, tools,
                                                            tmp_path, monkeypatch):
    """The sandbox's PostgreSQL setting points at an empty folder."""
    from herotasks_sandbox import daemon

    empty = tmp_path / "no-postgres"
    empty.mkdir()
    monkeypatch.setenv("HEROTASKS_SANDBOX_PG_BIN", str(empty))
    root = tmp_path / "sandbox"
    info = tools.start_sandbox(root)
    try:
        (tmp_path / "home").mkdir()
        cli = type(heroku)(tools.clean_env(info.env, tmp_path / "home"), tmp_path, heroku.bin)
        cli.ok("apps:create", "nopg")
        done = cli("addons:create", "heroku-postgresql", "-a", "nopg")
        assert done.returncode != 0
        # The CLI wraps long messages: compare the words.
        said = " ".join(line.strip(" ›") for line in done.stderr.splitlines())
        assert " ".join(MISSING.split()) in " ".join(said.split())
        assert "DATABASE_URL" not in cli.ok("config", "-a", "nopg").stdout
    finally:
        daemon.down(root)
