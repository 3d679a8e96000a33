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


class StoppingWorkers:
    """Workers scaled to zero that Heroku lists (``down``) for a few polls
    more, as it does while they get SIGTERM and their grace period."""

    def __init__(self, listed_for: int):
        self.polls, self.listed_for = 0, listed_for

    def dynos(self, app):
        self.polls += 1
        web = {"id": "w", "type": "web", "name": "web.1", "state": "up"}
        run = {"id": "r", "type": "run", "name": "run.1234", "state": "up"}
        if self.polls > self.listed_for:
            return [web, run]  # a one-off (the migration) is no worker
        return [web, run, {"id": "k", "type": "worker", "name": "worker.1",
                           "state": "down"}]


def test_wait_stopped_waits_politely_until_no_worker_dyno_is_listed():
    api = StoppingWorkers(listed_for=4)
    naps = []
    dynos.wait_stopped(api, "tally", timeout=60, sleep=naps.append)
    assert api.polls == 5 and len(naps) == 4
    assert all(2.0 <= n <= 3.0 for n in naps)  # not a burst of requests


def test_wait_stopped_names_the_dyno_that_would_not_stop():
    api = StoppingWorkers(listed_for=10**6)
    now = [0.0]

    def nap(seconds):
        now[0] += seconds

    with pytest.raises(HerotasksError, match=r"worker\.1 \(down\) still running "
                                             r"on tally 60s after scaling to zero"):
        dynos.wait_stopped(api, "tally", timeout=60, sleep=nap, clock=lambda: now[0])
    assert api.polls <= 60 / 2 + 2


class SlowBoot:
    """A web dyno that comes up only after ``boot`` seconds of a fake clock."""

    def __init__(self, boot: float):
        self.boot, self.now, self.polls = boot, 0.0, 0

    def formation(self, app):
        return [{"type": "web", "quantity": 1, "size": "Standard-1X"}]

    def dynos(self, app):
        self.polls += 1
        state = "up" if self.now >= self.boot else "starting"
        return [{"id": "n", "type": "web", "name": "web.1", "state": state,
                 "release": {"version": 5}}]

    def sleep(self, seconds):
        self.now += seconds


@pytest.mark.parametrize("boot,most", [(10, 6), (60, 9), (290, 17)])
def test_wait_up_polls_fewer_times_the_longer_the_boot(boot, most, monkeypatch):
    """Each poll is a rate-limit token: a boot as long as the default timeout
    must not cost a poll a second (the old 0.25 s: 1200 for 300 s)."""
    api = SlowBoot(boot)
    monkeypatch.setattr(dynos.time, "monotonic", lambda: api.now)
    dynos.wait_up(api, "tally", 5, timeout=300, sleep=api.sleep)
    assert api.now >= boot and api.polls <= most
    # seen up at most about half the time waited after it was (+ the first 2 s)
    assert api.now - boot <= boot / 2 + 2


class SwitchingApp:
    """After a preboot switch: the old release's dynos exit a few polls later;
    one-off dynos (a migration's) never count."""

    def __init__(self, gone_after: int):
        self.polls = 0
        self.gone_after = gone_after

    def dynos(self, app):
        self.polls += 1
        new = [{"type": "web", "name": "web.1", "release": {"version": 6}},
               {"type": "run", "name": "run.1", "release": {"version": 5}}]
        old = [{"type": "worker", "name": "worker.1", "release": {"version": 5}}]
        return new + (old if self.polls <= self.gone_after else [])


def test_wait_old_gone_waits_until_no_dyno_of_an_older_release_is_left():
    app = SwitchingApp(gone_after=3)
    dynos.wait_old_gone(app, "tally", 6, timeout=30, sleep=lambda _: None,
                        pauses=[0.0] * 10)
    assert app.polls == 4


def test_wait_old_gone_names_the_dynos_left_at_the_deadline():
    with pytest.raises(HerotasksError, match=r"worker\.1 \(v5\)") as err:
        dynos.wait_old_gone(SwitchingApp(gone_after=10 ** 6), "tally", 6, timeout=0,
                            sleep=lambda _: None, pauses=[0.0] * 3)
    assert "contract migrations did not run" in err.value.hint


class CrashingBoot:
    """A release whose web dyno dies at boot: ``starting``, then ``crashed``
    (Heroku restarts it at once, then cools off for 20 minutes)."""

    def __init__(self):
        self.polls = 0

    def formation(self, app):
        return [{"type": "web", "quantity": 1, "size": "Standard-1X"}]

    def dynos(self, app):
        self.polls += 1
        state = "starting" if self.polls < 3 else "crashed"
        return [{"id": "d1", "type": "web", "name": "web.1", "state": state,
                 "release": {"version": 5}},
                # a one-off and an older release's dyno do not count
                {"id": "d0", "type": "web", "name": "web.2", "state": "crashed",
                 "release": {"version": 4}},
                {"id": "r1", "type": "run", "name": "run.1", "state": "crashed",
                 "release": {"version": 5}}]


def test_wait_up_fails_as_soon_as_a_new_dyno_is_seen_crashed():
    api = CrashingBoot()
    with pytest.raises(HerotasksError, match=r"web\.1 of v5 on tally crashed"):
        dynos.wait_up(api, "tally", 5, timeout=1, sleep=lambda s: None)
    # the look that saw it crashed was the last: not the boot timeout's
    assert api.polls == 3
