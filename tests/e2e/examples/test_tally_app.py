"""The tally app itself, each version run the way a dyno runs it (subprocesses).

The point of the example is what happens when code and schema disagree, so
these tests pin that down: v2 code on the v1 schema and v1 code on the v2
schema both fail, in the web process and in the worker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from herotasks_sandbox.runtime import isolation

# Runs inside `manage.py shell`: one request to each page, as JSON.
PROBE = """
import json
from django.test import Client
client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
index = client.get("/", HTTP_USER_AGENT="probe/1.0")
print(json.dumps({"index": index.status_code, "body": index.content.decode(),
                  "up": client.get("/up").content.decode().strip()}))
"""


def manage(tree, env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def probe(tree, env) -> dict:
    return json.loads(ok(manage(tree, env, "shell", "-c", PROBE)).splitlines()[-1])


# v3 keeps v2's models and migrations (test_tally_repo checks it touches neither).
@pytest.mark.parametrize("tag", ["v1", "v2", "v4", "v6", "v8"])
def test_models_match_migrations(tally_tree, django_env, tag):
    ok(manage(tally_tree(tag), django_env, "makemigrations", "--check", "--dry-run"))


def test_v1_counts_visits_through_the_worker(tally_tree, django_env):
    v1 = tally_tree("v1")
    ok(manage(v1, django_env, "migrate", "-v0"))
    first = probe(v1, django_env)
    assert first["index"] == 200 and first["up"] == "tally v1"
    # The page links the hashed stylesheet collectstatic wrote.
    css = re.search(r'href="/static/(counter/tally\.[0-9a-f]{12}\.css)"', first["body"])
    assert css and (v1 / "staticfiles" / css.group(1)).is_file()

    worker = manage(v1, django_env, "worker", "--once")
    assert worker.returncode == 0 and "1 done, 0 failed" in worker.stdout
    assert "<strong>1</strong> visits counted" in probe(v1, django_env)["body"]


def test_v2_code_fails_on_the_v1_schema(tally_tree, django_env):
    ok(manage(tally_tree("v1"), django_env, "migrate", "-v0"))
    assert probe(tally_tree("v1"), django_env)["index"] == 200  # queues a job
    v2 = tally_tree("v2")
    assert probe(v2, django_env)["index"] == 500

    worker = manage(v2, django_env, "worker", "--once")
    assert worker.returncode == 1
    assert re.search(r"^JOB FAILED at=\d+\.\d+ .*no such column", worker.stdout, re.M)

    ok(manage(v2, django_env, "migrate", "-v0"))
    page = probe(v2, django_env)
    assert page["index"] == 200 and page["up"] == "tally v2"
    # The job v1 queued survives the migration and is counted with the new one.
    assert "2 done, 0 failed" in ok(manage(v2, django_env, "worker", "--once"))


def test_v1_code_fails_on_the_v2_schema(tally_tree, django_env):
    v1, v2 = tally_tree("v1"), tally_tree("v2")
    ok(manage(v2, django_env, "migrate", "-v0"))
    assert probe(v2, django_env)["index"] == 200  # queues a job
    assert probe(v1, django_env)["index"] == 500

    worker = manage(v1, django_env, "worker", "--once")
    assert worker.returncode == 1
    assert re.search(r"^JOB FAILED at=\S+ job=1 .*NOT NULL", worker.stdout, re.M)


def test_v3_runs_on_the_v2_schema_without_a_migration(tally_tree, django_env):
    ok(manage(tally_tree("v2"), django_env, "migrate", "-v0"))
    v3 = tally_tree("v3")
    ok(manage(v3, django_env, "migrate", "--check"))  # nothing left to apply
    assert probe(v3, django_env)["index"] == 200  # queues a job
    ok(manage(v3, django_env, "worker", "--once"))
    page = probe(v3, django_env)
    assert page["index"] == 200 and page["up"] == "tally v3"
    assert "every visit counts" in page["body"] and "probe/1.0" in page["body"]


def test_v3_keeps_working_on_the_v4_schema(tally_tree, django_env):
    """What makes migration 0003 online: the old code runs on the new schema,
    web and worker alike, and the new code then fills the new columns."""
    ok(manage(tally_tree("v4"), django_env, "migrate", "-v0"))
    v3 = tally_tree("v3")
    assert probe(v3, django_env)["index"] == 200  # v3 queues a job: NULL referrer
    assert "1 done, 0 failed" in ok(manage(v3, django_env, "worker", "--once"))
    v4 = tally_tree("v4")
    page = probe(v4, django_env)
    assert page["index"] == 200 and page["up"] == "tally v4"
    assert "1 done, 0 failed" in ok(manage(v4, django_env, "worker", "--once"))


def test_v6_works_on_the_v4_schema_then_the_contract_drops_the_columns(
        tally_tree, django_env):
    """What makes migration 0004 a contract with no window: between the
    release and the drop, v6 code (which no longer names referrer) runs on
    the v4 schema, web and worker; the drop then changes nothing it uses."""
    ok(manage(tally_tree("v4"), django_env, "migrate", "-v0"))
    v6 = tally_tree("v6")
    page = probe(v6, django_env)  # INSERT without the nullable referrer
    assert page["index"] == 200 and page["up"] == "tally v6"
    assert "1 done, 0 failed" in ok(manage(v6, django_env, "worker", "--once"))
    ok(manage(v6, django_env, "migrate", "-v0"))  # the contract
    assert probe(v6, django_env)["index"] == 200
    assert "1 done, 0 failed" in ok(manage(v6, django_env, "worker", "--once"))


# Runs inside `manage.py shell` of v6: what herotasks' db.expand does on
# PostgreSQL (ALTER COLUMN ... DROP NOT NULL), done here by Django's schema
# editor (SQLite rebuilds the table for it): the user_agent columns nullable.
EXPAND = """
from django.db import connection
from counter.models import Job, Visit
with connection.schema_editor() as editor:
    for model in (Job, Visit):
        old = model._meta.get_field("user_agent")
        new = old.clone()
        new.null = True
        new.set_attributes_from_name("user_agent")
        new.model = model
        editor.alter_field(model, old, new)
print("expanded")
"""


def test_v8_needs_the_expand_on_the_v6_schema_then_the_contract_drops_the_columns(
        tally_tree, django_env):
    """Why v8 is no plain contract: its INSERTs leave out the user_agent
    columns, NOT NULL on the v6 schema, so v8 fails there (web and worker);
    once they are nullable (the expand) v6, still serving, keeps working and
    v8 works too; the contract then drops them."""
    v6, v8 = tally_tree("v6"), tally_tree("v8")
    ok(manage(v6, django_env, "migrate", "-v0"))
    assert probe(v6, django_env)["index"] == 200  # v6 queues a job with its agent
    assert probe(v8, django_env)["index"] == 500  # NOT NULL: no user_agent given
    assert "expanded" in ok(manage(v6, django_env, "shell", "-c", EXPAND))
    assert probe(v6, django_env)["index"] == 200  # the old code, as before
    # both of v6's jobs (v8's failed INSERT queued none)
    assert "2 done, 0 failed" in ok(manage(v6, django_env, "worker", "--once"))
    page = probe(v8, django_env)
    assert page["index"] == 200 and page["up"] == "tally v8"
    assert "1 done, 0 failed" in ok(manage(v8, django_env, "worker", "--once"))
    ok(manage(v8, django_env, "migrate", "-v0"))  # the contract
    assert probe(v8, django_env)["index"] == 200
    assert "1 done, 0 failed" in ok(manage(v8, django_env, "worker", "--once"))


def test_v5_answers_500_everywhere(tally_tree, django_env):
    ok(manage(tally_tree("v4"), django_env, "migrate", "-v0"))
    v5 = tally_tree("v5")
    ok(manage(v5, django_env, "migrate", "--check"))  # no migration to blame
    page = probe(v5, django_env)
    assert page["index"] == 500


# Runs inside `manage.py shell`: /up until it fails, and how many answered 200.
PROBE_MANY = """
import json
from django.test import Client
client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
codes = [client.get("/up").status_code for _ in range(205)]
print(json.dumps({"ok": codes.count(200), "first_500": codes.index(500),
                  "then": sorted(set(codes[codes.index(500):]))}))
"""


def test_v7_answers_its_first_200_requests_then_500(tally_tree, django_env):
    ok(manage(tally_tree("v7"), django_env, "migrate", "-v0"))
    v7 = tally_tree("v7")
    ok(manage(v7, django_env, "migrate", "--check"))  # no migration to blame
    (v7 / ".tally-served").unlink(missing_ok=True)
    got = json.loads(ok(manage(v7, django_env, "shell", "-c",
                               PROBE_MANY)).splitlines()[-1])
    # a check before the release (a request or two) sees it healthy; traffic
    # breaks it, and it stays broken
    assert got == {"ok": 200, "first_500": 200, "then": [500]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
        return response.status, response.headers["Content-Type"], body


def test_procfile_web_process_serves_pages_and_hashed_assets(tally_tree, django_env):
    v1 = tally_tree("v1")
    ok(manage(v1, django_env, "migrate", "-v0"))
    command = (v1 / "Procfile").read_text().splitlines()[0].removeprefix("web:")
    # The Procfile binds 0.0.0.0 as on Heroku; run outside the sandbox, it
    # gets the sandbox's loopback sitecustomize, so it listens on loopback.
    env = django_env | {"PORT": str(free_port()),
                        "PYTHONPATH": str(isolation.LOOPBACK_SITE)}
    web = subprocess.Popen(
        ["sh", "-c", f"exec {command}"],
        cwd=v1,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert get(f"{base}/up")[2] == "tally v1\n"
                break
            except OSError:
                assert web.poll() is None, web.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.1)
        assert "0.0.0.0:$PORT" in command
        assert not isolation.exposed(web.pid, isolation.wide_listeners())
        status, _, body = get(f"{base}/")
        assert status == 200
        js = re.search(r'src="(/static/counter/tally\.[0-9a-f]{12}\.js)"', body)
        assert js, body
        assert get(base + js.group(1))[:2] == (200, "text/javascript")
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
