"""The health check after a release, end to end on the sandbox: a release
whose dynos crash, or whose app does not answer as configured, is rolled back
when that is safe, and kept (with the reason said) when a window-class
migration lies between."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from tests.support.projects import CRASHING_WORKER, assert_clean, health_file, steps

pytestmark = pytest.mark.e2e


def test_a_passing_check_is_a_step_of_the_report(tally):
    tally.commit({"ok.txt": "ok\n"})
    _, report = tally.deploy(runtime=health_file(tally, path="/ok.txt", watch=2))
    assert report["ok"] and "health.check" in steps(report)


def test_a_release_whose_worker_crashes_is_rolled_back(tally):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="1:Standard-1X")
    before = tally.current()
    tally.commit({"Procfile": CRASHING_WORKER})
    done, report = tally.deploy(check=False, runtime=health_file(tally, watch=10))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "health check" in last and "crashed" in last and "rolled back" in last
    assert "slug.rollback" in steps(report)
    assert tally.current()["slug"]["id"] == before["slug"]["id"]
    assert_clean(tally.state())


def test_an_app_that_does_not_answer_is_rolled_back(tally):
    tally.commit({"ok.txt": "ok\n"})
    # the check before the release would stop it first (tested below)
    config = health_file(tally, path="/ok.txt", timeout=3, watch=1, precheck="false")
    tally.deploy(runtime=config)
    before = tally.current()
    (tally.root / "ok.txt").unlink()
    tally.commit({"index.html": "v2\n"})
    done, _ = tally.deploy(check=False, runtime=config)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "GET" in last and "404" in last and "rolled back" in last
    assert tally.current()["slug"]["id"] == before["slug"]["id"]
    assert_clean(tally.state())


def test_after_a_window_migration_a_failed_check_keeps_the_release(tally):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="1:Standard-1X")
    before = tally.current()
    tally.add_migration()
    tally.commit({"Procfile": CRASHING_WORKER})
    done, report = tally.deploy(check=False, runtime=health_file(tally, watch=10))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "health check" in last and "kept v" in last
    assert "slug.rollback" not in steps(report)
    assert tally.current()["id"] != before["id"] and len(tally.applied()) == 2
    assert_clean(tally.state())


def test_the_health_check_goes_through_tls_as_on_heroku(tally, sandbox, api):
    """``web_url`` is https, as Heroku's: the health check's GET is
    verified against the sandbox CA (the env file's bundle) and the router
    logs it as https; plain http still answers."""
    tally.commit({"ok.txt": "ok\n"})
    _, report = tally.deploy(runtime=health_file(tally, path="/ok.txt", watch=1))
    assert report["ok"]
    web_url = api.get(f"/apps/{tally.app}")["web_url"]
    assert web_url.startswith("https://127.0.0.1:")
    log = sandbox.root / "logs" / "apps" / tally.app / "router.log"
    checks = [ln for ln in log.read_text().splitlines() if 'path="/ok.txt"' in ln]
    assert checks and all("protocol=https" in ln for ln in checks), checks
    plain = requests.get(web_url.replace("https://", "http://", 1) + "ok.txt",
                         timeout=30, proxies={"http": None, "https": None})
    assert plain.status_code == 200 and plain.text == "ok\n"


def test_a_check_that_could_not_ask_heroku_keeps_a_healthy_release(tally, admin):
    # issue 20: a 503 on the dyno list is "could not check", not "unhealthy"
    tally.deploy()
    tally.commit({"index.html": "v2\n"})
    # the fault goes up as the check starts (dynos.wait lists dynos too)
    fault = ("curl -sf --cacert \"$HEROTASKS_CA_BUNDLE\" -H \"Authorization: "
             "Bearer $HEROTASKS_SANDBOX_ADMIN_TOKEN\" -H 'Content-Type: "
             "application/json' -d '{\"method\": \"GET\", \"path\": "
             "\"^/apps/[^/]+/dynos$\", \"status\": 503, \"count\": 50}' "
             "\"$HEROTASKS_SANDBOX_URL/_sandbox/admin/faults\" >/dev/null")
    runtime = tally.root.parent / "fault.yaml"
    runtime.write_text("herotasks:\n  health: {watch: 2}\n  hooks:\n    before:\n"
                       f"      health.check: [{json.dumps(fault)}]\n")
    try:
        done, report = tally.deploy(check=False, runtime=runtime)
    finally:
        admin.delete("/faults")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["ok"] and "slug.rollback" not in steps(report)
    assert any("could not" in w for w in report["warnings"]), report["warnings"]
    assert tally.current()["id"] == report["release"]["id"]  # kept, not rolled back
    assert_clean(tally.state())


def test_recover_after_a_cut_off_rollback_does_not_call_the_release_live(tally):
    tally.deploy()
    before = tally.current()
    tally.commit({"index.html": "v2\n"})
    # killed as the check ends, then the rollback it would have made is made
    # (a rollback cut off before the journal heard of it)
    done, _ = tally.deploy(check=False, runtime=tally.hook_file(
        "after", "health.check", "kill -9 $PPID"))
    assert done.returncode != 0
    tally.api.post(f"/apps/{tally.app}/releases", {"release": before["id"]})
    releases = len(tally.api.get(f"/apps/{tally.app}/releases"))
    done = tally.inv("deploy.recover", "--stage", "production")
    assert "the new release is live" not in done.stdout, done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("recover: undone")
    assert "health" not in done.stdout.split("recover: undo", 1)[1].split("\n")[0]
    assert tally.current()["slug"]["id"] == before["slug"]["id"]
    assert len(tally.api.get(f"/apps/{tally.app}/releases")) == releases  # no other
    assert_clean(tally.state())


# -- the check before the release (health.precheck, issue 17) -----------------------

# A web process that binds $PORT and answers 500 to every request.
ALL_500 = """import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
WEB_500 = ("web: python3 all500.py\n"
           "worker: python3 -c \"import time; time.sleep(3600)\"\n")
# A web process that dies at boot, before it binds $PORT.
WEB_DIES = ("web: python3 -c \"print('booting'); raise SystemExit(4)\"\n"
            "worker: python3 -c \"import time; time.sleep(3600)\"\n")


class Traffic:
    """Users asking the app's web_url the whole time (every 50 ms)."""

    def __init__(self, proj) -> None:
        self.url = proj.api.get(f"/apps/{proj.app}")["web_url"]
        # web_url is https, as Heroku's: verified with the sandbox's CA
        self.verify = proj.env["HEROTASKS_CA_BUNDLE"]
        self.answers: list[int] = []
        #: (when the request was sent, epoch seconds; its status, 0: no answer)
        self.timed: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            sent = time.time()
            try:
                code = requests.get(self.url, timeout=10, verify=self.verify).status_code
            except requests.RequestException:
                code = 0
            self.answers.append(code)
            self.timed.append((sent, code))

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def failed(self) -> list[int]:
        return [code for code in self.answers if not 200 <= code < 400]


def test_a_release_whose_every_page_fails_is_stopped_before_the_release(tally):
    tally.deploy()
    before = tally.current()
    tally.commit({"all500.py": ALL_500, "Procfile": WEB_500})
    with Traffic(tally) as users:
        # (an app may answer 500 while it warms up: the check asks until its
        # timeout, 60 s by default, which is not what this test is about)
        done, report = tally.deploy(check=False, runtime=health_file(tally, timeout=5))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "health.precheck failed" in last and "GET / answered 500" in last
    assert "nothing was released" in last
    # no new release on the target, and not one request failed meanwhile
    assert tally.current()["id"] == before["id"]
    assert "slug.promote" not in steps(report)
    assert users.answers and not users.failed(), users.failed()
    precheck = report["precheck"]
    assert precheck["ok"] is False and precheck["asked"] is True
    assert any(f.startswith("bound $PORT") for f in precheck["found"])
    assert "precheck: FAILED (answers" in done.stdout
    assert_clean(tally.state())


def test_a_release_whose_web_dies_at_boot_is_caught_before_the_release(tally):
    tally.deploy()
    before = tally.current()
    tally.commit({"Procfile": WEB_DIES})
    done, report = tally.deploy(check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "exited with status 4 before binding $PORT" in last
    assert tally.current()["id"] == before["id"]
    # the web process's own output is shown, to tell why
    assert "web| booting" in done.stdout
    assert_clean(tally.state())


def test_a_good_release_passes_the_check_then_is_released(tally):
    tally.deploy()  # the first deploy migrates: its check only boots
    tally.commit({"ok.txt": "ok\n"})
    done, report = tally.deploy(runtime=health_file(tally, path="/ok.txt",
                                                     smoke="'test -f ok.txt'"))
    assert report["ok"]
    names = steps(report)
    assert names.index("health.precheck") < names.index("slug.promote")
    precheck = report["precheck"]
    assert precheck["ok"] and precheck["asked"]
    assert "GET /ok.txt answered 200" in " ".join(precheck["found"])
    assert "health.smoke passed" in precheck["found"]


def test_before_a_window_migration_the_check_only_boots(tally):
    tally.deploy()
    tally.add_migration()
    # every page fails: on the old schema that may be no fault of the
    # release, so the boot alone is checked and the watch judges the rest
    tally.commit({"all500.py": ALL_500, "Procfile": WEB_500})
    done, report = tally.deploy(check=False, runtime=health_file(
        tally, path="/", watch=1, timeout=3))
    names = steps(report)
    assert names.index("health.precheck") < names.index("maintenance.on")
    assert report["precheck"]["ok"] and report["precheck"]["asked"] is False
    # the watch after the release saw it (and kept the migrated release)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and "health check" in last and "kept v" in last
    assert_clean(tally.state())


def test_without_the_check_a_web_that_dies_at_boot_fails_the_wait_when_seen(tally):
    tally.deploy()
    before = tally.current()
    tally.commit({"Procfile": WEB_DIES})
    done, report = tally.deploy(check=False, runtime=health_file(
        tally, precheck="false"))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    # told as a crash when the crash is seen, not as the boot timeout
    assert "dynos.wait failed" in last and "crashed" in last
    assert "not up after" not in last and "rolled back" in last
    assert tally.current()["slug"]["id"] == before["slug"]["id"]
    assert_clean(tally.state())


# A web process that serves its files, then answers 500 from its 31st request
# on: a fault only traffic shows (the check before the release asks once).
FAILS_LATER = """import os
from http.server import HTTPServer, SimpleHTTPRequestHandler

served = 0


class Handler(SimpleHTTPRequestHandler):
    def do_GET(self):
        global served
        served += 1
        if served > 30:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def breaking_later_with_preboot(tally) -> dict:
    """A deployed app with preboot on and a committed release whose web
    process answers well at first, then 500 (FAILS_LATER); the release
    before it."""
    tally.deploy()
    tally.api.patch(f"/apps/{tally.app}/features/preboot", {"enabled": True})
    before = tally.current()
    tally.commit({"later.py": FAILS_LATER, "index.html": "v2\n",
                  "Procfile": "web: python3 later.py\nworker: python3 -c "
                              "\"import time; time.sleep(3600)\"\n"})
    return before


def test_a_release_failing_only_under_traffic_passes_the_check_and_is_rolled_back(
        tally):
    before = breaking_later_with_preboot(tally)
    with Traffic(tally) as users:
        done, report = tally.deploy(check=False, runtime=health_file(
            tally, path="/index.html", watch=20, timeout=5))
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and report["precheck"]["ok"]
    # the watch asked /index.html through the router and saw the first 500
    assert "during the watch" in last and "rolled back" in last
    assert "slug.rollback" in steps(report)
    assert tally.current()["slug"]["id"] == before["slug"]["id"]
    assert tally.state()["preboot"] is True
    assert users.failed()  # the fault did reach users: only the watch sees it
    assert_clean(tally.state())


def test_with_preboot_the_rollback_moves_traffic_back_when_it_is_done(tally):
    """Preboot would move traffic to the rollback release only at its switch
    (~3 minutes on Heroku): the release that fails under traffic would serve
    its errors all that time. The rollback turns preboot off for its release
    (Dev Center, *Preboot*: without it the old web dynos stop and the new
    ones start), so once it says done every request is the previous
    release's; preboot is on again afterwards, and the journal said so."""
    before = breaking_later_with_preboot(tally)
    with Traffic(tally) as users:
        done, report = tally.deploy(check=False, runtime=health_file(
            tally, path="/index.html", watch=20, timeout=5))
        time.sleep(2)  # users keep asking after the deploy ended
    assert done.returncode == 1 and "rolled back" in done.stderr
    back = next(s for s in report["steps"] if s["name"] == "slug.rollback")
    assert back["ok"]
    late = [(round(t - back["finished_at"], 2), code) for t, code in users.timed
            if t >= back["finished_at"] and not 200 <= code < 400]
    assert not late, late
    assert tally.current()["slug"]["id"] == before["slug"]["id"]
    assert "preboot off for the rollback" in done.stdout
    assert tally.state()["preboot"] is True
    assert_clean(tally.state())


# -- release-phase apps: the check runs when the scratch release succeeded ----------

def test_a_release_phase_app_whose_release_phase_passes_on_scratch_is_checked(tally):
    # the scratch build's release runs the release phase too; when it passes
    # there, the new slug is the scratch app's current release, which is
    # what a one-off dyno runs: the check boots the new code, not older code
    tally.deploy()
    before = tally.current()
    tally.commit({"all500.py": ALL_500, "Procfile": "release: true\n" + WEB_500})
    done, report = tally.deploy(check=False, runtime=health_file(tally, timeout=5))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "health.precheck failed" in last and "GET / answered 500" in last
    assert tally.current()["id"] == before["id"]
    assert "slug.promote" not in steps(report)
    assert_clean(tally.state())


def test_a_release_phase_that_fails_on_scratch_leaves_the_check_not_run(tally):
    # DB_FILE is the target's database (never copied to the scratch app): the
    # release phase fails there, so no dyno there runs the new slug; the check
    # is not run (and says why) rather than run on other code
    tally.deploy()
    tally.commit({"index.html": "v2\n", "Procfile": 'release: test -n "$DB_FILE"\n'
                  "web: python3 -m http.server $PORT --bind 127.0.0.1\n"})
    done, report = tally.deploy()
    assert report["ok"]
    precheck = report["precheck"]
    assert precheck["ran"] is False
    assert "release phase of the new slug failed on the scratch app" in precheck["found"][0]
    assert "precheck: not run" in done.stdout
    assert tally.current()["id"] == report["release"]["id"]
    assert_clean(tally.state())
