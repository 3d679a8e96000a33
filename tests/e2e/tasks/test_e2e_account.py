"""Heroku's account rules as a deploy meets them, end to end on the sandbox.

An account has an app limit (Dev Center "Limits": up to 100 apps). A deploy
creates two helper apps, the deploy lock and the scratch app; when Heroku
refuses to create one for that reason the deploy stops in one line saying
so, and never calls it "name taken" or "lock held", and leaves nothing.
"""

from __future__ import annotations

import pytest

from tests.support.projects import assert_clean

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_limit(admin):
    """Set the account's app limit; put the default back afterwards."""
    before = admin.get("/settings")["app_limit"]

    def set_to(n: int) -> None:
        admin.patch("/settings", {"app_limit": n})
    yield set_to
    admin.patch("/settings", {"app_limit": before})


def herotasks_lines(done) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("herotasks: ")]


@pytest.mark.parametrize("room, which", [(0, "the deploy lock app"),
                                         (1, "the scratch app")])
def test_the_app_limit_is_its_own_one_line_error(tally, api, app_limit, room, which):
    before = tally.current()
    app_limit(len(api.get("/apps")) + room)
    done, report = tally.deploy(check=False)
    assert done.returncode == 1
    lines = herotasks_lines(done)
    assert len(lines) == 1, done.stderr
    assert f"Heroku refused to create {which} " in lines[0], lines[0]
    assert "You've reached the limit of" in lines[0]
    assert "at most 100 apps" in lines[0]
    assert "taken" not in lines[0] and "being deployed" not in lines[0]
    assert "changing hands" not in lines[0]
    assert tally.current()["id"] == before["id"]
    assert_clean(tally.state())


# -- teams: helper apps live where the target lives -------------------------------

@pytest.fixture
def team_app(sandbox, api, tools, git_env, tmp_path):
    """The fixture app as a team app (``POST /teams/apps``), in a
    pipeline the team owns."""
    from tests.support.projects import PLAIN, Project

    team = api.post("/teams", {"name": tools.unique("team")})
    app = tools.unique("tally")
    api.post("/teams/apps", {"name": app, "team": team["name"]})
    proj = Project(tmp_path / "repo", app, PLAIN, dict(git_env), api, tools)
    api.patch(f"/apps/{app}/config-vars", {"DB_FILE": str(proj.db)})
    pipeline = api.post("/pipelines", {"name": tools.unique("pipe"),
                                       "owner": {"id": team["id"], "type": "team"}})
    api.post("/pipeline-couplings", {"app": app, "pipeline": pipeline["id"],
                                     "stage": "production"})
    proj.team = team
    yield proj
    api.request("DELETE", f"/pipelines/{pipeline['id']}")
    api.request("DELETE", f"/apps/{app}")


def test_a_team_pipeline_deploy_makes_its_helper_apps_in_the_team(team_app, api,
                                                                 sandbox, tmp_path):
    """Heroku couples only apps of the pipeline's owner: a personal scratch
    app cannot join the team's pipeline (that failed inside the window)."""
    from tests.support.e2e import RequestLog

    conf = tmp_path / "pipeline.yaml"
    conf.write_text("herotasks:\n  promote: {method: pipeline}\n")
    log = RequestLog(sandbox.root)
    done, report = team_app.deploy(runtime=conf, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["ok"]
    posted = [p for m, p in log.since() if m == "POST" and p.endswith("/apps")]
    # the lock app and the scratch app, both team apps
    assert posted == ["/teams/apps", "/teams/apps"], posted
    assert team_app.current()["description"].startswith("Promote ht-scratch-")
    assert_clean(team_app.state())
