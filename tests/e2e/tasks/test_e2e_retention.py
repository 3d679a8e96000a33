"""herotasks against Heroku's release retention, end to end on the sandbox.

Since 1 October 2025 a release over 30 days old and outside its app's latest
20 is ``expired``: its slug is gone and Heroku refuses a rollback to it. The
sandbox's clock is moved a month on (``clock_offset``) instead of waiting.
"""

from __future__ import annotations

import pytest

from tests.support.projects import CRASHING_WORKER, assert_clean, health_file, steps

pytestmark = pytest.mark.e2e

DAY = 86400.0


@pytest.fixture
def month_later(admin):
    """Move the sandbox's clock 31 days on (and back after the test)."""
    yield lambda: admin.patch("/settings", {"clock_offset": 31 * DAY})
    admin.patch("/settings", {"clock_offset": 0})


def versions(api, app: str) -> dict[int, dict]:
    return {r["version"]: r for r in api.get(f"/apps/{app}/releases")}


def failed_releases(api, app: str, n: int) -> None:
    """``n`` releases whose release phase fails: none becomes current, so the
    release that runs now ends up behind them all."""
    first = api.deploy_slug(app, {"x": "x"}, {"release": "exit 1", "web": "sleep 1"})
    assert first["status"] == "failed"
    for _ in range(n - 1):
        made = api.post(f"/apps/{app}/releases", {"slug": first["slug"]["id"]})
        assert api.wait_release(app, made["id"])["status"] == "failed"


def test_rollback_refuses_an_expired_release_and_names_the_newest_eligible(
        tally, api, month_later):
    tally.deploy()
    old = tally.current()
    tally.commit({"index.html": "v2\n"})
    tally.deploy()
    for i in range(20):  # config releases: they run the newer slug
        api.patch(f"/apps/{tally.app}/config-vars", {"N": str(i)})
    month_later()
    got = versions(api, tally.app)
    assert got[old["version"]]["status"] == "expired"
    newest = max(got)
    done = tally.inv("deploy.rollback", "--stage", "production",
                     "--to", f"v{old['version']}", check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert "expired" in line and f"--to v{newest - 1}" in line
    assert max(versions(api, tally.app)) == newest  # nothing was released
    # the default goes to the newest release that can be rolled back to
    done = tally.inv("deploy.rollback", "--stage", "production")
    assert f"v{newest} -> v{newest - 1}" in done.stdout


def test_a_fallback_that_expires_is_warned_and_never_rolled_back_to(
        tally, api, month_later):
    tally.deploy()
    tally.scale(web="1:Standard-1X", worker="1:Standard-1X")
    before = tally.current()
    failed_releases(api, tally.app, 19)
    month_later()
    tally.commit({"Procfile": CRASHING_WORKER})
    plan = tally.inv("deploy.plan", "--stage", "production")
    warning = (f"v{before['version']}, the release this deploy would fall back to, "
               "is 31 days old with 19 releases after it")
    assert warning in plan.stdout, plan.stdout
    done, report = tally.deploy(check=False, runtime=health_file(tally, watch=10))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "health check" in last and "kept v" in last, last
    assert "expired" in last and "fix forward" in last, last
    assert "slug.rollback" not in steps(report)
    assert any(warning in w for w in report["warnings"]), report["warnings"]
    assert versions(api, tally.app)[before["version"]]["status"] == "expired"
    assert tally.current()["id"] != before["id"]
    assert_clean(tally.state())
