"""A Fir target, end to end: herotasks cannot deploy a Fir-generation app
(it builds OCI images, not the slug herotasks builds and promotes), so the
check step refuses it in one line before anything changes."""

from __future__ import annotations

import pytest

from tests.support.projects import lines_of, team_project

pytestmark = pytest.mark.e2e


def test_a_fir_target_is_refused_in_the_check(api, tools, git_env, tmp_path):
    team = api.post("/teams", {"name": tools.unique("team")})
    space = api.post("/spaces", {"name": tools.unique("fir"), "team": team["name"],
                                 "region": "oregon", "generation": "fir"})
    proj = team_project(api, tools, git_env, tmp_path, space=space, team=team)
    try:
        releases = len(api.get(f"/apps/{proj.app}/releases"))
        done, _ = proj.deploy(check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        lines = lines_of(done)
        assert len(lines) == 1, done.stderr
        assert "Fir-generation app" in lines[0] and "git push" in lines[0]
        state = proj.state()
        assert not state["maintenance"] and not state["lock"] and not state["scratch"]
        assert len(api.get(f"/apps/{proj.app}/releases")) == releases
    finally:
        api.request("DELETE", f"/apps/{proj.app}")
        api.request("DELETE", f"/spaces/{space['id']}")
