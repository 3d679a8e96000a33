"""Heroku's runtime rules, end to end on the sandbox: what a deploy must
wait for because Heroku answers before it is done (workers scaled to zero
still run through their SIGTERM grace period)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest
import requests

from herotasks.core.actions import window_pauses
from tests.support.e2e import RequestLog, encloses, probe_config, shots, step
from tests.support.projects import assert_clean, health_file

pytestmark = pytest.mark.e2e

#: A worker that finishes its job on SIGTERM, as a well-behaved one does:
#: a few seconds, well within Heroku's grace (and the test sandbox's).
FINISHING_WORKER = ("worker: trap 'echo finishing the job; sleep 3; exit 0' TERM; "
                    "while :; do sleep 0.2; done\n")


def with_worker(proj, line: str) -> None:
    web = (proj.root / "Procfile").read_text().splitlines()[0]
    proj.commit({"Procfile": web + "\n" + line}, "a worker that takes its time")


def last_exit(sandbox, proj, dyno: str) -> float:
    """When the dyno's process last exited, from the sandbox's dyno log
    (Heroku's line format, a UTC timestamp first)."""
    path = sandbox.root / "logs" / "apps" / proj.app / f"{dyno}.log"
    line = [x for x in path.read_text().splitlines() if "Process exited" in x][-1]
    return datetime.fromisoformat(line.split()[0]).timestamp()


def test_migration_starts_only_once_the_workers_are_gone(tally, sandbox):
    with_worker(tally, FINISHING_WORKER)
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="2:Standard-1X")
    tally.add_migration()
    probe, out = probe_config(tally, ("before", "db.migrate"))
    _, report = tally.deploy(runtime=probe)
    assert report["ok"], report["error"]
    shot = shots(out)[("before", "db.migrate")]
    assert shot["formation"]["worker"] == 0
    # no worker still finishing its job while the schema changes
    assert [d for d in shot["dynos"] if d["type"] == "worker"] == []
    # "workers down" is measured from when they were gone, not asked to go
    down = report["windows"]["workers_down"]
    exits = [last_exit(sandbox, tally, f"worker.{n}") for n in (1, 2)]
    assert all(step(report, "workers.stop")["started_at"] < t <= down["started_at"]
               for t in exits), (exits, down)
    assert encloses(down, step(report, "db.migrate"))
    assert_clean(tally.state())
    assert sorted(p[:2] for p in tally.state()["formation"]) == [("web", 1),
                                                                  ("worker", 2)]


@pytest.fixture
def slow_platform(admin):
    """Call it to make builds slow and boots 10 s (every dyno, the
    migration's one-off too); put back after the test: the session
    sandbox is shared."""
    before = admin.get("/settings")
    yield lambda: admin.patch("/settings", {"build_delay": 8, "boot_delay": 10})
    admin.patch("/settings", {k: before[k] for k in ("build_delay", "boot_delay")})


def api_requests(log: RequestLog) -> list[tuple[str, str]]:
    """The Platform API requests among those served: not git's smart HTTP
    (``/APP.git/...``), not the sandbox's own streams, blobs and hooks."""
    return [(m, p) for m, p in log.since()
            if not p.startswith("/_sandbox/") and ".git/" not in p
            and not p.endswith(".git")]


#: Heroku's pool is 4500 tokens, refilled at ~75 a minute, and shared by
#: every tool on the account: a deploy is a guest there.
DEPLOY_BUDGET = 60


def test_a_slow_deploy_stays_within_its_request_budget(tally, sandbox, api, slow_platform):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="1:Standard-1X")
    # the longest plan: preboot off and back, workers, the window, a
    # migration, and the health check's default 10 s watch
    api.patch(f"/apps/{tally.app}/features/preboot", {"enabled": True})
    tally.add_migration()
    slow_platform()  # for the deploy measured, not the set-up
    log = RequestLog(sandbox.root)
    done, report = tally.deploy(runtime=health_file(tally, watch=10))
    assert report["ok"], report["error"]
    assert "preboot.off" in [s["name"] for s in report["steps"]]
    served = api_requests(log)
    assert len(served) <= DEPLOY_BUDGET, Counter(served).most_common()
    # the report counts what herotasks sent, which is what the sandbox served
    assert report["requests"] == len(served)
    assert f"API requests: {len(served)}" in done.stdout
    # A boot as long as the 300 s timeout costs only more looks of the boot
    # wait (after the restart, before maintenance goes off), whose pauses
    # grow to 60 s: within the budget still.
    restart = served.index(("DELETE", f"/apps/{tally.app}/dynos"))
    off = served.index(("PATCH", f"/apps/{tally.app}"), restart)
    looks = served[restart:off].count(("GET", f"/apps/{tally.app}/dynos"))
    assert looks >= 2  # the 10 s boot took more than one look
    at_timeout = len(served) - looks + looks_within(300)
    print(f"API requests: {len(served)} (boot 10 s); {at_timeout} at a 300 s boot")
    assert at_timeout <= DEPLOY_BUDGET


def looks_within(seconds: float) -> int:
    """How many times dynos.wait looks at the dynos in ``seconds`` inside the
    window, at worst (no boot time known from the held migration dyno)."""
    looks, waited = 1, 0.0
    for pause in window_pauses(None):
        if waited >= seconds:
            return looks
        waited += pause
        looks += 1
    raise AssertionError("not reached")


def test_preboot_goes_off_after_the_switch_and_the_report_says_when(tally, api, sandbox):
    tally.deploy()
    tally.scale(web="1:Standard-1X")
    tally.commit({"index.html": "v2\n"}, "new code, no migration")
    done, report = tally.deploy()
    assert report["ok"], report["error"]
    assert "preboot.on" in [s["name"] for s in report["steps"]]
    traffic = report["traffic"]
    assert traffic["preboot"] is True and traffic["done"] is True
    # preboot went off only once Heroku had moved traffic (its ~3 min, scaled)
    restore = step(report, "preboot.restore")
    assert restore["finished_at"] >= traffic["at"]
    assert "traffic: the new code took it at the preboot switch" in done.stdout
    assert tally.state()["preboot"] is False
    app = api.get(f"/apps/{tally.app}")
    # the old code no longer answers: the switch is behind us, not ahead
    answer = requests.get(app["web_url"], timeout=30, verify=sandbox.ca_bundle,
                          proxies={"http": None, "https": None})
    assert answer.text == "v2\n"


@pytest.fixture
def late_runtime(admin):
    """The runtime sees a fresh release only after 3 s (Heroku's is "very
    short-lived"; 3 s is more than the CLI's two immediate retries ride out);
    put back after the test: the session sandbox is shared."""
    before = admin.get("/settings")
    admin.patch("/settings", {"release_visibility": 3})
    yield
    admin.patch("/settings", {"release_visibility": before["release_visibility"]})


def test_the_migration_rides_out_the_runtime_not_seeing_the_release_yet(
        tally, sandbox, late_runtime):
    tally.add_migration()
    log = RequestLog(sandbox.root)
    # a one-off dyno on the target right after its release: the conditional
    # strategy's migration (herotasks' own dyno boots on the scratch app
    # before the window, db.prestart, long after that app's release)
    _, report = tally.deploy("--strategy", "conditional")
    assert report["ok"], report["error"]
    assert "db.migrate" in [s["name"] for s in report["steps"]]
    assert len(tally.applied()) == 2
    # the sandbox did answer 409 to the migration's one-off, and it was retried
    answers = [line.rsplit('"', 1)[-1].split()[0] for line in log.lines()
               if f'"POST /apps/{tally.app}/dynos ' in line]
    assert answers[0] == "409" and answers[-1] == "201", answers
    assert_clean(tally.state())
