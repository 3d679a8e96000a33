"""Private Spaces and a second user as a deploy meets them, end to end.

* A target in a Private Space: the scratch app is made in the target's team
  and space (``POST /teams/apps {team, space}``), the deploy works, and
  nothing is left over.
* A target in a Shield Private Space with a migration run in a one-off dyno:
  Shield one-off dynos attach over SSH (an https ``attach_url``), so the
  deploy stops in the check step with one line, before any window.
* A second user (a team member, "CI") deploys a team target whose lock app
  the first user made: it says who holds it, ``deploy.recover`` works for it,
  and it deploys afterwards.
* A personal target: the lock app is shared with the target's collaborators
  (so the second user can recover too); a lock app it may not read (403)
  gets its own line, never "lock held" or "name taken".
"""

from __future__ import annotations

import pytest

from herotasks.core import lock, scratch
from tests.support.projects import (
    PLAIN,
    Project,
    assert_clean,
    lines_of,
    paused_at,
    start_inv,
    team_project,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ci(sandbox, admin, tools):
    """A second account with its own token (CI's, say)."""
    made = admin.post("/users", {"email": tools.unique("ci") + "@example.com"})
    client = tools.Api(sandbox.url, made["token"], sandbox.ca_bundle)
    client.email, client.token = made["email"], made["token"]
    return client


def as_user(proj: Project, token: str, where: str = "other-machine") -> Project:
    """Another account on another machine: a fresh clone of the checkout
    (no local journal), driven with that account's token."""
    other = Project.__new__(Project)
    other.__dict__.update(proj.__dict__)
    other.env = {**proj.env, "HEROKU_API_KEY": token}
    other.root = proj.root.parent / where
    if not other.root.exists():
        proj.tools.git(proj.root.parent, proj.env, "clone", "-q", str(proj.root),
                       str(other.root))
    return other


@pytest.fixture
def space_app(sandbox, api, tools, git_env, tmp_path):
    team = api.post("/teams", {"name": tools.unique("team")})
    space = api.post("/spaces", {"name": tools.unique("sp"), "team": team["name"],
                                 "region": "oregon"})
    proj = team_project(api, tools, git_env, tmp_path, space=space, team=team)
    proj.space = space
    yield proj
    api.request("DELETE", f"/apps/{proj.app}")
    api.request("DELETE", f"/spaces/{space['id']}")


def test_a_space_target_builds_in_a_scratch_app_in_its_space(space_app, api, tools):
    config, reached, go = paused_at(space_app, "slug.promote")
    proc = start_inv(space_app, "-f", str(config), "deploy.production")
    try:
        wait_for(proc, reached, tools)
        made = api.get(f"/apps/{scratch.scratch_name('ht-scratch', space_app.app)}")
        assert made["space"]["id"] == space_app.space["id"]
        assert made["team"]["id"] == space_app.team["id"]
        assert made["region"]["name"] == "oregon"
        held = api.get(f"/apps/{lock.lock_app_name(space_app.app)}")
        assert held["team"]["id"] == space_app.team["id"]
    finally:
        go.touch()
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert space_app.applied() != []
    state = space_app.state()
    assert_clean(state)
    assert state["preboot"] is False  # Private Spaces deploy rolling


def test_a_shield_space_target_with_a_one_off_migration_stops_in_the_check(
        api, tools, git_env, tmp_path):
    team = api.post("/teams", {"name": tools.unique("team")})
    space = api.post("/spaces", {"name": tools.unique("sp"), "team": team["name"],
                                 "region": "virginia", "shield": True})
    proj = team_project(api, tools, git_env, tmp_path, space=space, team=team)
    try:
        releases = len(api.get(f"/apps/{proj.app}/releases"))
        done, report = proj.deploy(check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        lines = lines_of(done)
        assert len(lines) == 1, done.stderr
        assert "Shield Private Space" in lines[0] and "release phase" in lines[0]
        state = proj.state()
        assert not state["maintenance"] and not state["lock"] and not state["scratch"]
        assert len(api.get(f"/apps/{proj.app}/releases")) == releases
        assert proj.applied() == []
    finally:
        api.request("DELETE", f"/apps/{proj.app}")
        api.request("DELETE", f"/spaces/{space['id']}")


def test_a_team_member_sees_the_lock_recovers_and_deploys(api, ci, tools, git_env,
                                                          tmp_path):
    proj = team_project(api, tools, git_env, tmp_path)
    try:
        api.post(f"/teams/{proj.team['name']}/members",
                 {"email": ci.email, "role": "member"})
        proj.deploy()
        proj.add_migration()
        # the first user's deploy dies inside its window, holding the lock
        kill = proj.hook_file("after", "maintenance.on", "kill -9 $PPID")
        done, _ = proj.deploy(check=False, runtime=kill)
        assert done.returncode != 0 and proj.state()["maintenance"] is True
        lock_app = api.get(f"/apps/{lock.lock_app_name(proj.app)}")
        assert lock_app["team"]["id"] == proj.team["id"]

        second = as_user(proj, ci.token)
        done, _ = second.deploy(check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        line = lines_of(done)[-1]
        assert "(pid " in line and "403" not in line, line

        done = second.inv("deploy.recover", "--stage", "production")
        assert "recover:" in done.stdout
        assert proj.state()["maintenance"] is False
        assert not proj.state()["lock"]

        _, report = second.deploy()
        assert report["ok"]
        assert_clean(proj.state())
    finally:
        api.request("DELETE", f"/apps/{proj.app}")


@pytest.fixture
def personal(sandbox, api, tools, git_env, tmp_path):
    app = tools.unique("tally")
    api.create_app(app)
    proj = Project(tmp_path / "repo", app, PLAIN, dict(git_env), api, tools)
    api.patch(f"/apps/{app}/config-vars", {"DB_FILE": str(proj.db)})
    yield proj
    api.request("DELETE", f"/apps/{lock.lock_app_name(app)}")
    api.request("DELETE", f"/apps/{app}")


def test_a_personal_targets_lock_is_shared_with_its_collaborators(personal, api, ci):
    api.post(f"/apps/{personal.app}/collaborators", {"user": ci.email})
    personal.deploy()
    personal.add_migration()
    kill = personal.hook_file("after", "maintenance.on", "kill -9 $PPID")
    done, _ = personal.deploy(check=False, runtime=kill)
    assert done.returncode != 0 and personal.state()["maintenance"] is True
    name = lock.lock_app_name(personal.app)
    shared = [c["user"]["email"] for c in api.get(f"/apps/{name}/collaborators")]
    assert shared == [ci.email]

    second = as_user(personal, ci.token)
    done = second.inv("deploy.recover", "--stage", "production")
    assert "recover:" in done.stdout
    assert personal.state()["maintenance"] is False
    # a collaborator may not delete another account's app (Dev Center): the
    # lock app is left free, holder and journal cleared
    left = api.get(f"/apps/{name}/config-vars")
    assert left == {lock.RELEASED_VAR: "1"}, left
    # the collaborator takes it over and deploys; the owner's next deploy
    # takes it back and, being its owner, destroys it
    _, report = second.deploy()
    assert report["ok"]
    assert api.get(f"/apps/{name}/config-vars") == {lock.RELEASED_VAR: "1"}
    # (from a fresh clone: the owner's own checkout still has the killed
    # deploy's local journal, which B's recovery could not touch)
    owner = as_user(personal, api.token, "owner-ci")
    owner.commit({"index.html": "v3\n"}, "v3")
    _, report = owner.deploy()
    assert report["ok"]
    assert_clean(personal.state())


def test_a_lock_app_the_user_may_not_read_is_its_own_line(personal, api, ci):
    """A lock app made unshared (say, by an older herotasks): Heroku answers
    the second user 403 on it."""
    api.post(f"/apps/{personal.app}/collaborators", {"user": ci.email})
    name = lock.lock_app_name(personal.app)
    api.create_app(name)
    api.patch(f"/apps/{name}/config-vars", lock.Holder(
        personal.app, "dev@laptop", 4242, "production", "", 0, "theirs").to_vars())

    second = as_user(personal, ci.token)
    done, _ = second.deploy(check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = lines_of(done)
    assert len(lines) == 1, done.stderr
    assert "403" in lines[0] and name in lines[0] and "may not read it" in lines[0]
    assert "heroku access:add" in lines[0] and "Heroku Team" in lines[0]
    for wrong in ("taken", "being deployed", "changing hands"):
        assert wrong not in lines[0], lines[0]
    assert api.get(f"/apps/{name}/config-vars")[lock._VARS["who"]] == "dev@laptop"
