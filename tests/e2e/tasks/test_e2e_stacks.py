"""herotasks against Heroku's stack ends, end to end on the sandbox: a target
on a stack Heroku no longer builds (heroku-20) is refused in the check step,
and the plan warns about one near its end (heroku-22, 30 April 2027).

The sandbox's clock is set to 4 December 2026 for these tests, so what is
"near" does not depend on the day the suite runs.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tests.support.projects import steps

pytestmark = pytest.mark.e2e

TODAY = datetime(2026, 12, 4, 12, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def on_4_december_2026(admin):
    admin.patch("/settings", {"clock_offset": TODAY - time.time()})
    yield
    admin.patch("/settings", {"clock_offset": 0})


def test_a_target_on_an_ended_stack_is_refused_before_anything_changes(
        tally, api, admin, on_4_december_2026):
    admin.patch(f"/apps/{tally.app}", {"stack": "heroku-20"})
    releases = len(api.get(f"/apps/{tally.app}/releases"))
    apps = {a["name"] for a in api.get("/apps")}
    done, report = tally.deploy(check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert "heroku-20" in line and "no longer builds" in line
    assert "heroku stack:set heroku-24" in line
    assert {a["name"] for a in api.get("/apps")} == apps  # no lock, no scratch
    assert len(api.get(f"/apps/{tally.app}/releases")) == releases
    assert report is None or steps(report) in ([], ["check"])


def test_the_plan_warns_about_a_stack_near_its_end(tally, api, on_4_december_2026):
    api.patch(f"/apps/{tally.app}", {"build_stack": "heroku-22"})
    plan = tally.inv("deploy.plan", "--stage", "production")
    assert ("builds on heroku-22, which reaches its end of life on 30 April 2027 "
            "(in 147 days)") in plan.stdout, plan.stdout
    done, report = tally.deploy()
    assert any("heroku-22" in w for w in report["warnings"])
    # the scratch app built on the target's stack
    slug = tally.current()["slug"]["id"]
    assert api.get(f"/apps/{tally.app}/slugs/{slug}")["stack"]["name"] == "heroku-22"
