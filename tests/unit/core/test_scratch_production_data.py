"""The scratch app never gets production data's config vars.

Heroku runs the release phase of every new release, the scratch app's too, so
a database, cache or queue URL on it would let the new code's release command
touch production before any window opens. The named vars and every var an
add-on of the target sets are never copied; an allow-list naming one is
refused in one line before anything is created.
"""

from __future__ import annotations

import pytest

from herotasks.core import scratch
from herotasks.core.config import Settings
from herotasks.errors import ConfigError

STAGES = {"production": {"app": "tally-prod"}}


def settings(*allow: str) -> Settings:
    return Settings.resolve({"herotasks": {
        "stages": STAGES, "preset": "rails", "scratch": {"allowlist": list(allow)}}},
        stage="production")


@pytest.fixture
def target(heroku):
    app = heroku.add_app("tally-prod")
    heroku.config["tally-prod"] = {
        "SECRET_KEY_BASE": "s", "DATABASE_URL": "postgres://prod",
        "HEROKU_POSTGRESQL_RED_URL": "postgres://prod", "REDIS_URL": "redis://prod",
        "CLOUDAMQP_URL": "amqp://prod", "RAILS_ENV": "production"}
    heroku.addons_["tally-prod"] = [
        {"name": "cloudamqp-round-1", "config_vars": ["CLOUDAMQP_URL"]}]
    return app


@pytest.mark.parametrize("var", ["DATABASE_URL", "HEROKU_POSTGRESQL_RED_URL",
                                 "REDIS_URL"])
def test_named_database_vars_are_refused_in_the_config_check(var):
    with pytest.raises(ConfigError) as err:
        scratch.check_allowlist(settings("RAILS_ENV", var))
    assert str(err.value).startswith(f"herotasks.scratch.allowlist includes {var}")
    assert "\n" not in str(err.value)


def test_an_allow_listed_add_on_var_is_refused_before_anything_changes(
        heroku, target):
    with pytest.raises(ConfigError) as err:
        scratch.create(heroku, target, settings("RAILS_ENV", "CLOUDAMQP_URL"),
                       out=lambda _: None)
    assert str(err.value).startswith(
        "herotasks.scratch.allowlist includes CLOUDAMQP_URL (an add-on's config var)")
    assert heroku.mutations() == []  # no scratch app, no config change


def test_only_harmless_allow_listed_vars_reach_the_scratch_app(heroku, target):
    made = scratch.create(heroku, target, settings("RAILS_ENV", "SECRET_KEY_BASE"),
                          out=lambda _: None)
    assert heroku.config[made["name"]] == {
        "RAILS_ENV": "production", "SECRET_KEY_BASE": "s",
        scratch.MARKER: "tally-prod"}


def test_a_reused_scratch_app_loses_production_data_it_was_given(heroku, target):
    """An earlier herotasks (or a hand) left a database URL on it: gone."""
    name = scratch.scratch_name("ht-scratch", "tally-prod")
    heroku.add_app(name)
    heroku.config[name] = {scratch.MARKER: "tally-prod",
                           "DATABASE_URL": "postgres://prod",
                           "CLOUDAMQP_URL": "amqp://prod"}
    scratch.create(heroku, target, settings("RAILS_ENV"), out=lambda _: None)
    assert heroku.config[name] == {"RAILS_ENV": "production",
                                   scratch.MARKER: "tally-prod"}


def test_a_team_targets_scratch_app_is_made_in_its_team_and_space(heroku, target):
    """A personal scratch app could not join a team's pipeline, nor run
    in the target's Private Space."""
    heroku.apps_["tally-prod"].update(team={"name": "acme"},
                                      space={"name": "acme-space"})
    target = heroku.app("tally-prod")
    made = scratch.create(heroku, target, settings(), out=lambda _: None)
    assert ("create_app", made["name"], "acme", "acme-space") in heroku.calls
