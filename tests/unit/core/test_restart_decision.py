"""The window's restart after the migration (issue 18): the held migration
dyno counts the other database connections opened since just before `go`
and says so in one line; `dynos.restart` restarts only when that count is
unknown or non-zero."""

from __future__ import annotations

import pytest

from herotasks.core import dynos
from herotasks.core.config import GENERIC_HOLD, PRESETS, Settings, hold_command
from herotasks.core.facts import Facts


@pytest.mark.parametrize("output, count", [
    ("== migrating ==\nherotasks: connections since go: 0\n", 0),
    ("herotasks: connections since go: 3\n", 3),
    # the last line counts (only one is ever said; a stray earlier one loses)
    ("herotasks: connections since go: 2\nherotasks: connections since go: 0\n", 0),
    ("== migrating ==\n", None),
    ("", None),
    ("herotasks: connections since go: \n", None),
    ("herotasks: connections since go: -1\n", None),
    ("herotasks: connections since go: many\n", None),
    ("echo herotasks: connections since go: 0\n", None),  # not a whole line
])
def test_the_count_is_read_from_the_dyno_output(output, count):
    seen = dynos.ConnectionCount()
    for part in output.splitlines(keepends=True):
        seen.write(part)
    assert seen.count == count


def test_the_count_is_read_across_partial_writes():
    seen = dynos.ConnectionCount()
    for part in ("herotasks: conn", "ections since go", ": 0", "\n"):
        seen.write(part)
    assert seen.count == 0


def test_the_count_is_a_declared_fact():
    facts = Facts()
    facts.update(connections_since_go=0)
    assert Facts.from_json(facts.to_json()).connections_since_go == 0
    assert Facts().connections_since_go is None  # unknown by default


@pytest.mark.parametrize("count, restart", [(None, True), (1, True), (4, True),
                                            (0, False)])
def test_restart_only_when_unknown_or_some_connected(count, restart):
    assert dynos.restart_needed(count) is restart


@pytest.mark.parametrize("preset", ["rails", "django"])
def test_the_presets_holds_count_connections_after_migrating(preset):
    hold = PRESETS[preset].migrate_hold
    assert dynos.CONNECTIONS in hold
    assert "pg_stat_activity" in hold and "clock_timestamp()" in hold
    # the migration first, the count after it
    assert hold.index("clock_timestamp()") < hold.index("pg_stat_activity")


def test_the_generic_hold_counts_nothing():
    assert dynos.CONNECTIONS not in GENERIC_HOLD
    settings = Settings.resolve({"herotasks": {"preset": "rails", "migrations": {
        "command": "bin/migrate"}, "stages": {"production": {"app": "a"}}}},
        stage="production")
    assert dynos.CONNECTIONS not in hold_command(settings)
