"""Nothing lost when a deploy is slow, late or interrupted (issue 8), end to end.

* someone else's app that happens to carry the scratch app's name is never
  reused, wiped or destroyed;
* ``deploy.recover`` refuses while the deploy it would recover still runs;
* a deploy killed during ``app.push`` leaves no git child running, and
  recovery waits for the build it started before deciding.

Real ``inv`` processes, real git, the session's sandbox, as in
``test_e2e_deploy``.
"""

from __future__ import annotations

import pytest

from herotasks.core import lock, scratch
from test_e2e_deploy import Project, assert_clean, rails  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e


def app_names(proj: Project) -> set[str]:
    return {a["name"] for a in proj.api.get("/apps")}


# -- 4. someone else's app with the scratch name -----------------------------------

@pytest.mark.parametrize("theirs", [
    {"PAYMENTS_KEY": "theirs", "RAILS_ENV": "production"},
    {scratch.MARKER: "some-other-app", "RAILS_ENV": "staging"},
], ids=["unmarked", "marked-for-another-app"])
def test_an_app_with_the_scratch_name_that_is_not_ours_is_left_alone(rails, theirs):
    name = scratch.scratch_name("ht-scratch", rails.app)
    rails.api.create_app(name)
    try:
        rails.api.patch(f"/apps/{name}/config-vars", theirs)
        releases = len(rails.api.get(f"/apps/{rails.app}/releases"))

        done, report = rails.deploy(check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert name in lines[0] and "herotasks.scratch.prefix" in lines[0]
        # refused before anything changed: no lock, no journal, no release
        assert not (rails.root / ".herotasks" / "journal" / f"{rails.app}.json").exists()
        assert lock.lock_app_name(rails.app) not in app_names(rails)
        assert len(rails.api.get(f"/apps/{rails.app}/releases")) == releases
        assert rails.applied() == []

        # scratch.create and scratch.destroy run by hand leave it alone too
        for task in ("scratch.create", "scratch.destroy"):
            done = rails.inv(task, "--stage", "production", check=False)
            assert name in app_names(rails), f"{task} destroyed {name}"
            if task == "scratch.create":
                assert done.returncode == 1 and "Traceback" not in done.stderr
                assert name in done.stderr.strip().splitlines()[-1]
        assert rails.api.get(f"/apps/{name}/config-vars") == theirs
    finally:
        rails.api.request("DELETE", f"/apps/{name}")
