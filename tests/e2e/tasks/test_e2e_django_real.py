"""A real Heroku-ready Django project deployed with herotasks on the sandbox.

The app (``fixtures/django_real``, written here) needs another Django than
herotasks' own venv has, gunicorn as its web process, Postgres through
``DATABASE_URL`` (the heroku-postgresql add-on, SSL only), a migration run by
its release phase, and https: it sets ``SECURE_SSL_REDIRECT`` and trusts the
router's ``X-Forwarded-Proto`` as Heroku-ready Django apps do. Everything
asserted is an effect: the table in the add-on's database, the pages the
router serves, the Django the dyno imported.

The dependencies come from uv's cache shared by the test sandboxes
(``.herotasks/cache``), so after the first run the build costs seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import django
import pytest

from herotasks_sandbox.postgres import find_bin_dir
from tests.support.examples import get

pytestmark = pytest.mark.e2e

APP = Path(__file__).parent / "fixtures" / "django_real"
#: The Django the app pins (requirements.txt), not herotasks' own.
APP_DJANGO = "4.2.20"


def fixture_files() -> dict[str, str]:
    return {str(p.relative_to(APP)): p.read_text()
            for p in APP.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


#: The second deploy's changes: a Tag model and its migration, a page that
#: says it is the new code.
NEXT = {
    "notes/models.py": (APP / "notes" / "models.py").read_text()
    + "\n\nclass Tag(models.Model):\n    name = models.CharField(max_length=50)\n",
    "notes/migrations/0002_tag.py": (
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [(\"notes\", \"0001_initial\")]\n"
        "    operations = [migrations.CreateModel(name=\"Tag\", fields=[\n"
        "        (\"id\", models.BigAutoField(auto_created=True, primary_key=True,"
        " serialize=False, verbose_name=\"ID\")),\n"
        "        (\"name\", models.CharField(max_length=50))])]\n"),
    "notes/views.py": (APP / "notes" / "views.py").read_text()
    .replace("from .models import Note", "from .models import Note, Tag")
    .replace('f"hello-notes django=', 'f"hello-notes-v2 tags={Tag.objects.count()} django='),
}


def deploy(repo: Path, env: dict, report_path: Path) -> dict:
    """``inv deploy.production`` as a user runs it; the report, checked."""
    report_path.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "deploy.production", "--json",
         str(report_path)], cwd=repo, env=dict(env), capture_output=True,
        text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["ok"], report
    # The release phase ran the migration; herotasks did not run it again.
    assert "db.migrate" not in [s["name"] for s in report["steps"]]
    return report


@pytest.mark.skipif(find_bin_dir() is None, reason="no PostgreSQL on this machine "
                    "(scripts/bootstrap installs it where it can)")
def test_a_heroku_ready_django_app_deploys_with_its_own_django_postgres_and_https(
        sandbox, api, tools, git_env, tmp_path):
    assert django.get_version() != APP_DJANGO  # herotasks' venv has another one
    name = tools.unique("djreal")
    api.create_app(name)
    try:
        addon = api.post(f"/apps/{name}/addons",
                         {"plan": "heroku-postgresql:essential-0"})
        assert addon["config_vars"] == ["DATABASE_URL"]
        repo = tools.make_repo(tmp_path / "repo", git_env, {
            **fixture_files(),
            "tasks.py": "from herotasks.tasks import ns\n",
            # No asset command: the buildpack's collectstatic does it, as on
            # Heroku; the release phase migrates. The health check asks the
            # https web_url (as Heroku's) for the page: 200 from the app.
            "invoke.yaml": "herotasks:\n  preset: django\n"
                           f"  stages:\n    production: {{app: {name}}}\n"
                           "  assets: {command: false}\n"
                           "  timeouts: {boot: 60, release: 120, preboot: 4}\n"
                           "  health: {path: /, status: 200, watch: 1}\n"})
        report_path = tmp_path / "report.json"
        deploy(repo, git_env, report_path)

        # The migration's table is in the add-on's database.
        url = api.get(f"/apps/{name}/config-vars")["DATABASE_URL"]
        import psycopg
        with psycopg.connect(url, connect_timeout=30) as conn:
            table = conn.execute("select to_regclass('public.notes_note')").fetchone()[0]
            applied = conn.execute("select name from django_migrations where app = "
                                   "'notes'").fetchall()
        assert table == "notes_note"
        assert applied == [("0001_initial",)]

        # https through the router: 200 from this app's code, on its own Django,
        # over an encrypted database connection; the visit is a row.
        https = api.get(f"/apps/{name}")["web_url"]
        assert https.startswith("https://")  # as Heroku's
        web_url = https.replace("https://", "http://", 1)  # plain http too
        page = tools.wait_until(lambda: (r := get(https, sandbox)).status_code == 200
                                and r, timeout=60, what="the https page")
        fields = dict(f.split("=", 1) for f in page.text.split()[1:])
        assert page.text.startswith("hello-notes ")  # this app's code
        assert fields["django"] == APP_DJANGO
        assert "/.heroku/python/lib/python3" in fields["at"]
        assert fields["ssl"] == "True" and fields["secure"] == "True"
        assert int(fields["notes"]) >= 1

        # http answers Django's redirect to the same URL over https.
        plain = get(web_url, sandbox)
        assert plain.status_code == 301
        assert plain.headers["Location"] == https

        # gunicorn is the web process, from the slug.
        dynos = api.get(f"/apps/{name}/dynos")
        web = [d for d in dynos if d["type"] == "web"]
        assert web and all(d["command"].startswith("gunicorn ") for d in web)

        # A second deploy: new code and a second migration (a new table).
        for path, text in NEXT.items():
            (repo / path).write_text(text)
        tools.git(repo, git_env, "add", "-A")
        tools.git(repo, git_env, "commit", "-q", "-m", "tags")
        deploy(repo, git_env, report_path)
        with psycopg.connect(url, connect_timeout=30) as conn:
            assert conn.execute("select to_regclass('public.notes_tag')"
                                ).fetchone()[0] == "notes_tag"
        page = tools.wait_until(lambda: (r := get(https, sandbox)).status_code == 200
                                and r.text.startswith("hello-notes-v2 ") and r,
                                timeout=60, what="the new code over https")
        fields = dict(f.split("=", 1) for f in page.text.split()[1:])
        assert fields["django"] == APP_DJANGO and fields["tags"] == "0"
        assert get(web_url, sandbox).status_code == 301
    finally:
        api.request("DELETE", f"/apps/{name}")
