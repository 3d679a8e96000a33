"""Whose app is it: the scratch app is reused or destroyed only when it is
this target's (marker, or the id this deploy journaled)."""

from __future__ import annotations

import pytest

from herotasks.core import scratch
from herotasks.core.config import Settings
from herotasks.errors import ApiError

APP = "tally-prod"


@pytest.fixture
def settings():
    return Settings.resolve({"herotasks": {"preset": "rails",
                                           "stages": {"production": {"app": APP}}}},
                            stage="production")


def test_creation_cut_off_before_the_marker_is_still_recognised(heroku, settings):
    heroku.add_app(APP)
    name = scratch.scratch_name(settings.scratch_prefix, APP)
    journaled = []
    heroku.fail["update_config_vars"] = ApiError("killed", status=503)
    with pytest.raises(ApiError):
        scratch.create(heroku, heroku.app(APP), settings, out=lambda _: None,
                       created=lambda app: journaled.append(app["id"]))
    assert journaled == [heroku.apps_[name]["id"]]
    assert scratch.MARKER not in heroku.config[name]
    del heroku.fail["update_config_vars"]

    # unmarked and unknown: treated as a stranger's app
    with pytest.raises(scratch.ForeignApp, match=name):
        scratch.create(heroku, heroku.app(APP), settings, out=lambda _: None)
    assert scratch.destroy(heroku, APP, settings, out=lambda _: None) == []
    # the journaled id makes it ours: reused (and marked), then destroyed
    again = scratch.create(heroku, heroku.app(APP), settings, out=lambda _: None,
                           known_id=journaled[0])
    assert again["id"] == journaled[0]
    assert heroku.config[name][scratch.MARKER] == APP
    assert scratch.destroy(heroku, APP, settings, out=lambda _: None,
                           known_id=journaled[0]) == [name]


def test_a_scratch_name_held_by_an_app_this_account_may_not_see(heroku, settings):
    """Heroku answers 403 for another account's app: its own line, never a
    traceback or "name taken"."""
    heroku.add_app(APP)
    heroku.fail["app"] = lambda name: (_ for _ in ()).throw(ApiError(
        f"You do not have access to the app {name}.", status=403, id="forbidden"))
    with pytest.raises(scratch.ForeignApp) as err:
        scratch.check_name(heroku, APP, settings)
    line = str(err.value)
    name = scratch.scratch_name(settings.scratch_prefix, APP)
    assert name in line and "403" in line and "may not see it" in line
    assert "herotasks.scratch.prefix" in line and "taken" not in line


def test_a_scratch_app_only_its_owner_may_destroy_is_left_with_a_line(heroku, settings):
    heroku.add_app(APP)
    made = scratch.create(heroku, heroku.app(APP), settings, out=lambda _: None)
    heroku.fail["delete_app"] = ApiError("Only the owner ...", status=403,
                                         id="forbidden")
    lines = []
    assert scratch.destroy(heroku, APP, settings, out=lines.append) == []
    assert made["name"] in heroku.apps_
    assert any("only its owner may destroy it" in line for line in lines), lines
