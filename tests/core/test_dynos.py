"""wait_up after a restart: old dynos that still show "up" must not count."""

from __future__ import annotations

import pytest

from herotasks.core import dynos
from herotasks.errors import HerotasksError


class RestartingApp:
    """A Heroku app whose restart replaces its dyno a few polls later."""

    def __init__(self, replace_after: int):
        self.polls = 0
        self.replace_after = replace_after
        self.restarted = False

    def formation(self, app):
        return [{"type": "web", "quantity": 1, "size": "Standard-1X"}]

    def dynos(self, app):
        self.polls += 1
        old = {"id": "old", "type": "web", "name": "web.1", "state": "up",
               "release": {"version": 5}}
        if not self.restarted or self.polls <= self.replace_after:
            return [old]
        return [{"id": "new", "type": "web", "name": "web.1", "state": "up",
                 "release": {"version": 5}}]

    def restart_dynos(self, app):
        self.restarted = True
        self.polls = 0


def test_restart_returns_the_dynos_it_replaces():
    api = RestartingApp(replace_after=3)
    assert dynos.restart(api, "tally") == ("old",)
    assert api.restarted


def test_wait_up_ignores_replaced_dynos_until_new_ones_are_up():
    api = RestartingApp(replace_after=3)
    replaced = dynos.restart(api, "tally")
    naps = []
    dynos.wait_up(api, "tally", 5, timeout=60, sleep=naps.append, replaced=replaced)
    # The old dyno showed "up" on polls 1-3 and was not taken for the new one.
    assert len(naps) == 3 and api.polls == 4


def test_wait_up_times_out_when_only_replaced_dynos_are_up():
    api = RestartingApp(replace_after=10**6)
    replaced = dynos.restart(api, "tally")
    with pytest.raises(HerotasksError, match="web 0/1 up"):
        dynos.wait_up(api, "tally", 5, timeout=0, sleep=lambda s: None,
                      replaced=replaced)
