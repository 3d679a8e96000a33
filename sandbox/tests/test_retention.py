"""Heroku's release retention (since 1 October 2025) on the sandbox.

A release's slug is destroyed once the release is more than 30 days old and
outside its app's latest 20 releases, or when no release uses it; the release
is then ``expired`` and not ``eligible_for_rollback``, the slug has
``deleted_at``, and rolling back to it (or releasing its slug) is refused.
The sandbox's clock is moved forward with the ``clock_offset`` admin setting.
"""

from __future__ import annotations

import pytest

from herotasks_sandbox import schema
from herotasks_sandbox.testing import as_heroku

DAY = 86400.0
WEB = {"web": "python3 -m http.server $PORT"}


@pytest.fixture
def month_later(admin):
    """Move the sandbox's clock 31 days on (and back after the test)."""
    def move(days: float = 31) -> None:
        admin.patch("/settings", {"clock_offset": days * DAY})
    yield move
    admin.patch("/settings", {"clock_offset": 0})


def valid(resource: str, title: str, body) -> None:
    """``body`` is what the schema says (loopback URLs read as Heroku's)."""
    problems: list[str] = []
    body = as_heroku(body, problems)
    errors = list(schema.validator(resource, title, "targetSchema").iter_errors(body))
    assert not problems and not errors, problems + [e.message for e in errors]


def releases(api, app) -> dict[int, dict]:
    body = api.get(f"/apps/{app['name']}/releases")
    valid("release", "List", body)
    return {r["version"]: r for r in body}


def old_app(api, app) -> tuple[dict, dict]:
    """v2 runs slug A, v3 slug B, then 20 config releases (v4..v23) run B:
    v2 and v3 are outside the latest 20, only A is used by nothing kept."""
    first = api.deploy_slug(app["name"], {"a.txt": "a"}, WEB)
    second = api.deploy_slug(app["name"], {"b.txt": "b"}, WEB)
    for i in range(20):
        api.patch(f"/apps/{app['name']}/config-vars", {"N": str(i)})
    return first, second


def test_a_release_ages_out_only_when_old_and_outside_the_latest_20(api, app,
                                                                   month_later):
    first, second = old_app(api, app)
    assert releases(api, app)[first["version"]]["status"] == "succeeded"
    month_later(29)  # outside the latest 20, but not 30 days old yet
    assert releases(api, app)[first["version"]]["eligible_for_rollback"] is True
    month_later(31)
    got = releases(api, app)
    assert got[first["version"]]["status"] == "expired"
    assert got[first["version"]]["eligible_for_rollback"] is False
    # v3's slug is still run by the 20 config releases after it: kept
    assert got[second["version"]]["status"] == "succeeded"
    assert got[second["version"]]["eligible_for_rollback"] is True
    slug = api.get(f"/apps/{app['name']}/slugs/{first['slug']['id']}")
    valid("slug", "Info", slug)
    assert slug["deleted_at"] is not None
    kept = api.get(f"/apps/{app['name']}/slugs/{second['slug']['id']}")
    assert kept["deleted_at"] is None
    info = api.get(f"/apps/{app['name']}/releases/{first['version']}")
    valid("release", "Info", info)
    assert info["status"] == "expired"


def test_rolling_back_to_or_releasing_an_expired_artifact_is_refused(api, app,
                                                                   month_later):
    first, second = old_app(api, app)
    month_later()
    before = releases(api, app)
    r = api.request("POST", f"/apps/{app['name']}/releases",
                    json={"release": first["id"]})
    assert r.status_code == 422 and "expired" in r.json()["message"]
    r = api.request("POST", f"/apps/{app['name']}/releases",
                    json={"slug": first["slug"]["id"]})
    assert r.status_code == 422 and "retention" in r.json()["message"]
    assert releases(api, app).keys() == before.keys()  # nothing was made
    # an eligible one still rolls back
    done = api.post(f"/apps/{app['name']}/releases", {"release": second["id"]})
    assert api.wait_release(app["name"], done["id"])["status"] == "succeeded"


def test_a_slug_no_release_uses_goes_at_30_days(api, app, month_later):
    slug = api.post(f"/apps/{app['name']}/slugs", {"process_types": WEB})
    month_later(10)
    assert api.get(f"/apps/{app['name']}/slugs/{slug['id']}")["deleted_at"] is None
    month_later(31)
    assert api.get(f"/apps/{app['name']}/slugs/{slug['id']}")["deleted_at"]


def test_the_current_release_is_kept_whatever_its_age(api, app, month_later):
    only = api.deploy_slug(app["name"], {"a.txt": "a"}, WEB)
    month_later(400)
    got = releases(api, app)[only["version"]]
    assert got["status"] == "succeeded" and got["current"]


def test_the_clock_is_an_admin_setting(admin, month_later):
    month_later(2)
    assert admin.get("/settings")["clock_offset"] == 2 * DAY
