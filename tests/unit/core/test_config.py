"""Settings resolution: CLI beats config beats preset beats default, and every
bad value is one line naming the key (invocations' "config loses to runtime")."""

from __future__ import annotations

import pytest
from invoke import Config, Context

from herotasks.core.config import DEFAULTS, PRESETS, Settings, merged_tree
from herotasks.errors import ConfigError

STAGES = {"production": {"app": "tally-prod"}, "staging": {"app": "tally-staging"}}


def cfg(**tree):
    """A config tree; rails unless the test says otherwise (custom needs all)."""
    return {"herotasks": {"stages": STAGES, "preset": "rails", **tree}}


class TestPrecedence:
    def test_default_strategy_when_nothing_given(self):
        assert Settings.resolve(cfg(), stage="production").strategy == "herotasks"

    def test_config_beats_default(self):
        s = Settings.resolve(cfg(strategy="naive"), stage="production")
        assert s.strategy == "naive"

    def test_cli_beats_config(self):
        s = Settings.resolve(cfg(strategy="naive"), stage="production",
                             strategy="conditional")
        assert s.strategy == "conditional"

    def test_preset_beats_default(self):
        s = Settings.resolve(cfg(preset="rails"), stage="production")
        assert s.assets_command == "bin/rails assets:precompile"
        assert s.migrate_command == "bin/rails db:migrate"
        assert "db/migrate" in s.migration_paths
        assert s.assets_output == "public/assets"

    def test_config_beats_preset(self):
        s = Settings.resolve(
            cfg(preset="rails", migrations={"command": "bin/rails db:migrate:safe"}),
            stage="production",
        )
        assert s.migrate_command == "bin/rails db:migrate:safe"
        # keys left at null still come from the preset
        assert s.migration_paths == PRESETS["rails"].migration_paths

    def test_cli_stage_beats_configured_default_stage(self):
        s = Settings.resolve(cfg(stage="staging"), stage="production")
        assert (s.stage, s.app) == ("production", "tally-prod")

    def test_configured_default_stage_is_used(self):
        s = Settings.resolve(cfg(stage="staging"))
        assert s.app == "tally-staging"

    def test_invoke_config_object_with_env_style_override(self):
        # What `inv` hands a task: a Config whose defaults came from
        # Collection.configure and whose overrides came from files/env.
        config = Config(defaults=DEFAULTS,
                        overrides={"herotasks": {"stages": STAGES, "preset": "django"}})
        s = Settings.resolve(Context(config=config).config, stage="staging")
        assert s.migrate_command == "python manage.py migrate --noinput"
        assert s.timeouts.boot == 300

    def test_plain_context_without_defaults_still_resolves(self):
        config = Context().config
        config["herotasks"] = {"preset": "django"}
        s = Settings.resolve(config, require_stage=False)
        assert s.strategy == "herotasks" and s.stage is None
        assert s.timeouts.build == 1800

    def test_cabundle_falls_back_to_env(self, monkeypatch):
        monkeypatch.setenv("HEROTASKS_CA_BUNDLE", "/tmp/ca.pem")
        assert Settings.resolve(cfg(), stage="production").api_cabundle == "/tmp/ca.pem"
        s = Settings.resolve(cfg(api={"cabundle": "/x.pem"}), stage="production")
        assert s.api_cabundle == "/x.pem"


class TestMigrationsMode:
    def test_auto_by_default(self):
        assert Settings.resolve(cfg(), stage="production").migrations_mode == "auto"

    @pytest.mark.parametrize("mode", ["window", "online", "after"])
    def test_config_sets_it_and_the_preset_keeps_the_rest(self, mode):
        s = Settings.resolve(cfg(migrations={"mode": mode}), stage="production")
        assert s.migrations_mode == mode
        assert s.migrate_command == "bin/rails db:migrate"

    def test_bad_mode_names_the_allowed_values(self):
        with pytest.raises(ConfigError) as err:
            Settings.resolve(cfg(migrations={"mode": "Online"}), stage="production")
        assert str(err.value) == ("herotasks.migrations.mode is 'Online' — "
                                  "use one of: after, auto, online, window")

    def test_env_style_override_reaches_a_declared_key(self):
        config = Config(defaults=DEFAULTS, overrides={
            "herotasks": {"stages": STAGES, "preset": "django",
                          "migrations": {"mode": "window"}}})
        s = Settings.resolve(Context(config=config).config, stage="staging")
        assert s.migrations_mode == "window"


class TestDjangoPreset:
    def test_globs_are_plain_for_the_git_adapter(self):
        s = Settings.resolve(cfg(preset="django"), stage="production")
        assert "**/migrations/**" in s.migration_paths
        assert "**/static/**" in s.assets_inputs
        assert s.assets_output == "staticfiles"

    def test_user_glob_magic_is_not_doubled(self):
        s = Settings.resolve(cfg(preset="django",
                                 migrations={"paths": [":(glob)x/**"]}),
                             stage="production")
        assert s.migration_paths == ("x/**",)


class TestStages:
    def test_no_stage_lists_configured_ones(self):
        with pytest.raises(ConfigError) as err:
            Settings.resolve(cfg())
        assert "no stage given" in str(err.value)
        assert "production, staging" in str(err.value)

    def test_unknown_stage_lists_configured_ones(self):
        with pytest.raises(ConfigError) as err:
            Settings.resolve(cfg(), stage="prod")
        line = str(err.value)
        assert "unknown stage 'prod'" in line and "production, staging" in line
        assert "\n" not in line

    def test_no_stages_configured_says_how(self):
        with pytest.raises(ConfigError) as err:
            Settings.resolve({"herotasks": {}}, stage="production")
        assert "herotasks.stages.production.app" in str(err.value)

    def test_stage_without_app(self):
        with pytest.raises(ConfigError, match="names no app"):
            Settings.resolve({"herotasks": {"stages": {"production": {}}}},
                             stage="production")

    def test_stage_key_typo_is_caught(self):
        with pytest.raises(ConfigError, match="unknown key 'ap'"):
            Settings.resolve({"herotasks": {"stages": {"production": {"ap": "x"}},
                                           "preset": "rails"}},
                             stage="production")

    def test_shorthand_string_stage(self):
        s = Settings.resolve({"herotasks": {"stages": {"qa": "tally-qa"},
                                           "preset": "rails"}}, stage="qa")
        assert s.app == "tally-qa"

    def test_require_app_without_stage(self):
        s = Settings.resolve(cfg(), require_stage=False)
        with pytest.raises(ConfigError, match="no stage given"):
            s.require_app()


class TestBadValues:
    @pytest.mark.parametrize("tree,needle", [
        ({"preset": "rubyonrails"}, "herotasks.preset"),
        ({"strategy": "yolo"}, "herotasks.strategy"),
        ({"promote": {"method": "ftp"}}, "herotasks.promote.method"),
        ({"timeouts": {"boot": "soon"}}, "herotasks.timeouts.boot"),
        ({"api": {"retries": -1}}, "herotasks.api.retries"),
        ({"scratch": {"prefix": "Bad_Prefix"}}, "herotasks.scratch.prefix"),
        ({"hooks": {"before": {"slug.bild": ["echo", 3]}}}, "herotasks.hooks.before.slug.bild"),
        ({"migrations": {"paths": [""]}}, "herotasks.migrations.paths"),
        ({"migrations": {"mode": "sometimes"}}, "herotasks.migrations.mode"),
    ])
    def test_one_line_naming_the_key(self, tree, needle):
        with pytest.raises(ConfigError) as err:
            Settings.resolve(cfg(**tree), stage="production")
        assert needle in str(err.value)
        assert "\n" not in str(err.value)

    def test_custom_preset_needs_everything(self):
        with pytest.raises(ConfigError) as err:
            Settings.resolve(cfg(preset="custom"), stage="production")
        line = str(err.value)
        assert "herotasks.assets.command" in line
        assert "herotasks.migrations.paths" in line

    def test_custom_preset_may_opt_out_explicitly(self):
        s = Settings.resolve(cfg(preset="custom", assets={"command": False},
                                 migrations={"command": False}), stage="production")
        assert s.assets_command is None and s.migrate_command is None

    def test_custom_preset_fully_given(self):
        s = Settings.resolve(cfg(
            preset="custom",
            assets={"command": "make assets", "inputs": ["web"], "output": "dist"},
            migrations={"command": "./migrate", "paths": ["sql"]},
        ), stage="production")
        assert (s.assets_command, s.assets_output) == ("make assets", "dist")
        assert s.migration_paths == ("sql",)

    def test_hooks_accept_a_single_string(self):
        s = Settings.resolve(cfg(preset="rails",
                                 hooks={"after": {"slug.promote": "echo hi"}}),
                             stage="production")
        assert s.hooks_after == {"slug.promote": ("echo hi",)}


def test_every_key_is_declared():
    # env vars can only override declared keys; keep the contract's list whole.
    tree = merged_tree({})
    for key in ("preset", "stage", "stages", "strategy", "assets", "migrations",
                "scratch", "promote", "hooks", "timeouts", "api", "statedir"):
        assert key in tree
    assert set(tree["api"]) == {"url", "cabundle", "retries"}
    assert set(tree["migrations"]) == {"command", "paths", "mode"}
    assert set(tree["timeouts"]) == {"build", "release", "migrate", "boot", "stop", "preboot"}


class TestShapes:
    """A plain mapping (Python callers) with a scalar where a mapping is
    declared gets the same one line invoke users get from herotasks.cli."""

    @pytest.mark.parametrize("tree, key", [
        ({"timeouts": 5}, "herotasks.timeouts"),
        ({"promote": "slug"}, "herotasks.promote"),
        ({"stages": ["production"]}, "herotasks.stages"),
        ({"hooks": {"before": ["db.migrate"]}}, "herotasks.hooks.before"),
        ({"api": "https://api.heroku.com"}, "herotasks.api"),
    ])
    def test_scalar_for_a_mapping(self, tree, key):
        with pytest.raises(ConfigError) as err:
            Settings.resolve({"herotasks": {"preset": "rails", **tree}},
                             require_stage=False)
        assert key in str(err.value) and "mapping" in str(err.value)

    def test_herotasks_itself_a_scalar(self):
        with pytest.raises(ConfigError, match="herotasks must be a mapping"):
            merged_tree({"herotasks": "hello"})

    @pytest.mark.parametrize("commands", [5, [5], [""], {"a": 1}, True])
    def test_hook_commands_must_be_strings(self, commands):
        tree = cfg(hooks={"before": {"db.migrate": commands}})
        with pytest.raises(ConfigError) as err:
            Settings.resolve(tree, stage="production")
        assert "herotasks.hooks.before.db.migrate" in str(err.value)

    def test_hook_command_string_or_list(self):
        s = Settings.resolve(cfg(hooks={"before": {"db.migrate": "./a"},
                                        "after": {"db.migrate": ["./b", "./c"]}}),
                             stage="production")
        assert s.hooks_before == {"db.migrate": ("./a",)}
        assert s.hooks_after == {"db.migrate": ("./b", "./c")}

    def test_missing_runtime_file_is_named(self, tmp_path):
        # invoke skips a -f file that does not exist without a word.
        config = Config(defaults=DEFAULTS, runtime_path=str(tmp_path / "nope.yaml"))
        config.load_runtime()
        with pytest.raises(ConfigError, match="nope.yaml"):
            Settings.resolve(config, require_stage=False)


class TestDeclaredKeys:
    """Issue 20: a mistyped key is named, never silently ignored."""

    @pytest.mark.parametrize("tree,named,meant", [
        ({"health": {"paht": "/up"}}, "herotasks.health.paht", "herotasks.health.path"),
        ({"helth": {"path": "/up"}}, "herotasks.helth", "herotasks.health"),
        ({"migrations": {"moed": "online"}}, "herotasks.migrations.moed",
         "herotasks.migrations.mode"),
    ])
    def test_an_unknown_key_is_one_line_naming_it(self, tree, named, meant):
        with pytest.raises(ConfigError) as err:
            Settings.resolve(cfg(**tree), stage="production")
        line = str(err.value)
        assert len(line.splitlines()) == 1
        assert f"{named} is not a setting (did you mean {meant}?)" in line

    def test_every_mistake_is_named(self):
        with pytest.raises(ConfigError) as err:
            Settings.resolve(cfg(helth={}, migrations={"moed": "online"}),
                             stage="production")
        assert "herotasks.helth" in str(err.value)
        assert "herotasks.migrations.moed" in str(err.value)

    def test_the_users_own_names_are_not_keys(self):
        s = Settings.resolve(cfg(hooks={"before": {"db.migrate": "true"}},
                                 sandbox={"root": "x"}), stage="production")
        assert s.hooks_before == {"db.migrate": ("true",)}


class TestHealthValues:
    def resolve(self, **health):
        return Settings.resolve(cfg(health=health), stage="production").health

    @pytest.mark.parametrize("word,enabled", [
        ("false", False), ("0", False), ("no", False), ("true", True), ("1", True),
        (False, False), (None, True)])
    def test_enabled_as_an_environment_variable_carries_it(self, word, enabled):
        # INVOKE_HEROTASKS_HEALTH_ENABLED=false reaches us as the string
        assert self.resolve(enabled=word).enabled is enabled

    def test_health_false_turns_it_off_for_python_callers(self):
        # (a file cannot say it: invoke merges no scalar over a declared
        # mapping, and the load error says `health: {enabled: false}`)
        assert Settings.resolve(cfg(health=False),
                                stage="production").health.enabled is False

    @pytest.mark.parametrize("health,named", [
        ({"enabled": "banana"}, "herotasks.health.enabled"),
        ({"path": "/up now"}, "herotasks.health.path"),
        ({"watch": 2.5}, "herotasks.health.watch"),
        ({"timeout": 0.5}, "herotasks.health.timeout"),
        ({"watch": 86400}, "herotasks.health.watch"),
        ({"status": True}, "herotasks.health.status"),
    ])
    def test_bad_values_are_one_line(self, health, named):
        with pytest.raises(ConfigError) as err:
            self.resolve(**health)
        assert str(err.value).startswith(f"{named} is ")

    def test_whole_floats_and_the_bound_itself_pass(self):
        assert self.resolve(watch=600.0, timeout=30).watch == 600
