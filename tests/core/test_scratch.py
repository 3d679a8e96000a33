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
