"""The health check after a release, end to end on the sandbox: a release
whose dynos crash, or whose app does not answer as configured, is rolled back
when that is safe, and kept (with the reason said) when a window-class
migration lies between."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.projects import CRASHING_WORKER, assert_clean, health_file, steps

pytestmark = pytest.mark.e2e


def test_a_passing_check_is_a_step_of_the_report(rails):
    rails.commit({"ok.txt": "ok\n"})
    _, report = rails.deploy(runtime=health_file(rails, path="/ok.txt", watch=2))
    assert report["ok"] and "health.check" in steps(report)


def test_a_release_whose_worker_crashes_is_rolled_back(rails):
    rails.deploy()
    rails.scale(web="1:Standard-1X", worker="1:Standard-1X")
    before = rails.current()
    rails.commit({"Procfile": CRASHING_WORKER})
    done, report = rails.deploy(check=False, runtime=health_file(rails, watch=10))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "health check" in last and "crashed" in last and "rolled back" in last
    assert "slug.rollback" in steps(report)
    assert rails.current()["slug"]["id"] == before["slug"]["id"]
    assert_clean(rails.state())


def test_an_app_that_does_not_answer_is_rolled_back(rails):
    rails.commit({"ok.txt": "ok\n"})
    config = health_file(rails, path="/ok.txt", timeout=3, watch=1)
    rails.deploy(runtime=config)
    before = rails.current()
    (rails.root / "ok.txt").unlink()
    rails.commit({"index.html": "v2\n"})
    done, _ = rails.deploy(check=False, runtime=config)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "GET" in last and "404" in last and "rolled back" in last
    assert rails.current()["slug"]["id"] == before["slug"]["id"]
    assert_clean(rails.state())


def test_after_a_window_migration_a_failed_check_keeps_the_release(rails):
    rails.deploy()
    rails.scale(web="1:Standard-1X", worker="1:Standard-1X")
    before = rails.current()
    rails.add_migration()
    rails.commit({"Procfile": CRASHING_WORKER})
    done, report = rails.deploy(check=False, runtime=health_file(rails, watch=10))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "health check" in last and "kept v" in last
    assert "slug.rollback" not in steps(report)
    assert rails.current()["id"] != before["id"] and len(rails.applied()) == 2
    assert_clean(rails.state())


def test_the_health_check_goes_through_tls_as_on_heroku(rails, sandbox, api):
    """``web_url`` is https, as Heroku's: the health check's GET is
    verified against the sandbox CA (the env file's bundle) and the router
    logs it as https; plain http still answers."""
    rails.commit({"ok.txt": "ok\n"})
    _, report = rails.deploy(runtime=health_file(rails, path="/ok.txt", watch=1))
    assert report["ok"]
    web_url = api.get(f"/apps/{rails.app}")["web_url"]
    assert web_url.startswith("https://127.0.0.1:")
    log = sandbox.root / "logs" / "apps" / rails.app / "router.log"
    checks = [ln for ln in log.read_text().splitlines() if 'path="/ok.txt"' in ln]
    assert checks and all("protocol=https" in ln for ln in checks), checks
    plain = requests.get(web_url.replace("https://", "http://", 1) + "ok.txt",
                         timeout=30, proxies={"http": None, "https": None})
    assert plain.status_code == 200 and plain.text == "ok\n"


def test_a_check_that_could_not_ask_heroku_keeps_a_healthy_release(rails, admin):
    # issue 20: a 503 on the dyno list is "could not check", not "unhealthy"
    rails.deploy()
    rails.commit({"index.html": "v2\n"})
    # the fault goes up as the check starts (dynos.wait lists dynos too)
    fault = ("curl -sf --cacert \"$HEROTASKS_CA_BUNDLE\" -H \"Authorization: "
             "Bearer $HEROTASKS_SANDBOX_ADMIN_TOKEN\" -H 'Content-Type: "
             "application/json' -d '{\"method\": \"GET\", \"path\": "
             "\"^/apps/[^/]+/dynos$\", \"status\": 503, \"count\": 50}' "
             "\"$HEROTASKS_SANDBOX_URL/_sandbox/admin/faults\" >/dev/null")
    runtime = rails.root.parent / "fault.yaml"
    runtime.write_text("herotasks:\n  health: {watch: 2}\n  hooks:\n    before:\n"
                       f"      health.check: [{json.dumps(fault)}]\n")
    try:
        done, report = rails.deploy(check=False, runtime=runtime)
    finally:
        admin.delete("/faults")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["ok"] and "slug.rollback" not in steps(report)
    assert any("could not" in w for w in report["warnings"]), report["warnings"]
    assert rails.current()["id"] == report["release"]["id"]  # kept, not rolled back
    assert_clean(rails.state())


def test_recover_after_a_cut_off_rollback_does_not_call_the_release_live(rails):
    rails.deploy()
    before = rails.current()
    rails.commit({"index.html": "v2\n"})
    # killed as the check ends, then the rollback it would have made is made
    # (a rollback cut off before the journal heard of it)
    done, _ = rails.deploy(check=False, runtime=rails.hook_file(
        "after", "health.check", "kill -9 $PPID"))
    assert done.returncode != 0
    rails.api.post(f"/apps/{rails.app}/releases", {"release": before["id"]})
    releases = len(rails.api.get(f"/apps/{rails.app}/releases"))
    done = rails.inv("deploy.recover", "--stage", "production")
    assert "the new release is live" not in done.stdout, done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("recover: undone")
    assert "health" not in done.stdout.split("recover: undo", 1)[1].split("\n")[0]
    assert rails.current()["slug"]["id"] == before["slug"]["id"]
    assert len(rails.api.get(f"/apps/{rails.app}/releases")) == releases  # no other
    assert_clean(rails.state())
