"""Deploy configuration: the declared defaults, the framework presets, and one
resolved, immutable :class:`Settings` per run.

Everything lives under one invoke config subtree, ``herotasks``. Every key is
declared in :data:`DEFAULTS` (even the ``None`` ones) because invoke only lets
env vars (``INVOKE_HEROTASKS_STRATEGY=naive``) override keys that already exist.

Resolution order, highest first, is the one invocations uses and tests:
a task argument given on the command line, then the invoke config (files, env,
``-f``), then the framework preset, then the default. Tasks never read the
config tree themselves; they call :meth:`Settings.resolve` once and pass the
frozen result down, so the engine and planner never see invoke at all.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from herotasks.core.strategies import STRATEGIES
from herotasks.errors import ConfigError

#: The ``herotasks`` subtree, exactly as documented in docs/architecture.md.
DEFAULTS: dict[str, Any] = {
    "herotasks": {
        "preset": "custom",
        "stage": None,
        "stages": {},
        "strategy": "herotasks",
        "assets": {"command": None, "inputs": None, "output": None},
        "migrations": {"command": None, "paths": None, "mode": "auto"},
        "scratch": {"prefix": "ht-scratch", "allowlist": []},
        "promote": {"method": "slug"},
        "hooks": {"before": {}, "after": {}},
        # stop: scaled-down workers must be gone (Heroku gives each 30 s
        # from SIGTERM to SIGKILL) before the window's work starts
        # preboot: Heroku moves traffic to the new web dynos ~3 min after a
        # preboot release; preboot is not turned off before then
        "timeouts": {"build": 1800, "release": 3600, "migrate": 3600, "boot": 300,
                     "stop": 60, "preboot": 180},
        # after the release: no crashed dyno for `watch` s, and (when `path` is
        # set) GET path answers `status` within `timeout` s; else roll back.
        # precheck: before the release, the new slug's web process boots in a
        # one-off dyno on the scratch app and is asked on its own $PORT (path
        # and status, or `/` below 500), and `smoke` (a shell command) runs
        # there too; a failure stops the deploy before anything is released
        "health": {"enabled": True, "path": None, "status": 200, "timeout": 60,
                   "watch": 10, "precheck": True, "smoke": None},
        "api": {"url": None, "cabundle": None, "retries": 4},
        "statedir": ".herotasks",
    }
}

# Git pathspecs, matched with git's :(glob) magic (gitignore-like `**`; a plain
# directory matches everything under it): herotasks.adapters.git adds the magic.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "rails": {
        "assets": {
            "command": "bin/rails assets:precompile",
            "inputs": [
                "app/assets",
                "lib/assets",
                "vendor/assets",
                "app/javascript",
                "Gemfile.lock",
                "package.json",
                "yarn.lock",
            ],
            "output": "public/assets",
        },
        "migrations": {
            "command": "bin/rails db:migrate",
            "paths": ["db/migrate", "db/schema.rb", "db/structure.sql"],
        },
    },
    "django": {
        "assets": {
            "command": "python manage.py collectstatic --noinput",
            # collectstatic's result depends on the static dirs, on the settings
            # (STATIC_*, INSTALLED_APPS) and on the installed packages (admin's
            # files come from Django itself), so lock files count as inputs.
            "inputs": [
                "**/static/**",
                "**/settings.py",
                "**/settings/**",
                "requirements.txt",
                "Pipfile.lock",
                "poetry.lock",
                "uv.lock",
            ],
            "output": "staticfiles",
        },
        "migrations": {
            "command": "python manage.py migrate --noinput",
            "paths": ["**/migrations/**"],
        },
    },
    "custom": {
        "assets": {"command": None, "inputs": None, "output": None},
        "migrations": {"command": None, "paths": None},
    },
}

PROMOTE_METHODS = ("slug", "pipeline")
#: herotasks.migrations.mode: auto reads each pending migration (core.classify),
#: window always takes the maintenance window, online never does (the user vouches).
MIGRATION_MODES = ("auto", "window", "online")
STAGE_KEYS = ("app",)
@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for each slow thing before giving up."""

    build: float = 1800
    release: float = 3600
    migrate: float = 3600
    boot: float = 300
    #: workers scaled to zero still run until they exit: Heroku's 30 s grace
    #: from SIGTERM to SIGKILL, plus a margin
    stop: float = 60
    #: after a release with preboot, Heroku switches traffic to the new web
    #: dynos about 3 minutes later (Dev Center, Preboot)
    preboot: float = 180


@dataclass(frozen=True)
class Health:
    """The check after a release (on unless ``herotasks.health.enabled`` is
    false): no web or worker dyno of the new release crashes for ``watch``
    seconds, and ``GET path`` on the app answers ``status`` within
    ``timeout`` seconds when ``path`` is set."""

    enabled: bool = True
    path: str | None = None
    status: int = 200
    timeout: float = 60
    watch: float = 10
    #: the check before the release (``health.precheck``): on unless turned
    #: off (``health: false`` turns off both)
    precheck: bool = True
    #: a shell command run in the precheck's dyno once the web answers
    smoke: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything one run needs, resolved once (CLI > config > preset > default).

    ``assets_command``/``migrate_command`` are ``None`` only when the user said
    explicitly (``false`` in config) that the app has no such step.
    """

    stage: str | None
    app: str | None
    stages: Mapping[str, str]
    preset: str
    strategy: str
    assets_command: str | None
    assets_inputs: tuple[str, ...]
    assets_output: str | None
    migrate_command: str | None
    migration_paths: tuple[str, ...]
    scratch_prefix: str
    scratch_allowlist: tuple[str, ...]
    promote_method: str
    hooks_before: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hooks_after: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    timeouts: Timeouts = Timeouts()
    health: Health = Health()
    api_url: str | None = None
    api_cabundle: str | None = None
    api_retries: int = 4
    statedir: Path = Path(".herotasks")
    migrations_mode: str = "auto"

    @classmethod
    def resolve(
        cls,
        config: Any,
        *,
        stage: str | None = None,
        strategy: str | None = None,
        require_stage: bool = True,
    ) -> "Settings":
        """Build settings from an invoke config (or plain mapping) plus CLI args.

        :param config: ``c.config`` or a mapping holding a ``herotasks`` key.
        :param stage: ``--stage`` from the command line (beats
            ``herotasks.stage``).
        :param strategy: ``--strategy`` from the command line.
        :param require_stage: when False, a missing stage is allowed (tasks
            such as ``assets.precompile`` need no app).
        :raises ConfigError: one line naming the bad key and what to do.
        """
        tree = merged_tree(config)
        preset = _choice(tree["preset"], PRESETS, "herotasks.preset")
        stages = _stages(tree["stages"])
        stage_name, app = _pick_stage(stage or tree["stage"], stages, require_stage)
        chosen_strategy = _choice(strategy or tree["strategy"], STRATEGIES,
                                  "herotasks.strategy")
        method = _choice(tree["promote"]["method"], PROMOTE_METHODS,
                         "herotasks.promote.method")
        assets = _with_preset(tree["assets"], PRESETS[preset]["assets"])
        migrations = _with_preset(tree["migrations"], PRESETS[preset]["migrations"])
        _require_given(preset, assets, migrations)
        assets_command = _command(assets["command"], "herotasks.assets.command")
        migrate_command = _command(migrations["command"],
                                   "herotasks.migrations.command")
        if assets_command and not assets["output"]:
            raise ConfigError(
                "herotasks.assets.output is not set",
                "name the directory the asset command writes (e.g. public/assets)",
            )
        cabundle = tree["api"]["cabundle"] or os.environ.get("HEROTASKS_CA_BUNDLE")
        return cls(
            stage=stage_name,
            app=app,
            stages=stages,
            preset=preset,
            strategy=chosen_strategy,
            assets_command=assets_command,
            assets_inputs=_pathspecs(assets["inputs"], "herotasks.assets.inputs"),
            assets_output=(str(assets["output"]).strip("/")
                           if assets_command else None),
            migrate_command=migrate_command,
            migration_paths=_pathspecs(migrations["paths"],
                                       "herotasks.migrations.paths"),
            scratch_prefix=_scratch_prefix(tree["scratch"]["prefix"]),
            scratch_allowlist=tuple(str(v) for v in tree["scratch"]["allowlist"] or ()),
            promote_method=method,
            hooks_before=_hooks(tree["hooks"].get("before"), "before"),
            hooks_after=_hooks(tree["hooks"].get("after"), "after"),
            timeouts=_timeouts(tree["timeouts"]),
            health=_health(tree["health"]),
            api_url=tree["api"]["url"] or None,
            api_cabundle=cabundle or None,
            api_retries=_int(tree["api"]["retries"], "herotasks.api.retries"),
            statedir=Path(str(tree["statedir"])),
            migrations_mode=_choice(migrations["mode"], MIGRATION_MODES,
                                    "herotasks.migrations.mode"),
        )

    def require_app(self) -> str:
        """The stage's app, or a one-line error saying how to name one."""
        if not self.app:
            raise ConfigError(
                "no stage given",
                f"pass --stage NAME or set herotasks.stage "
                f"({_configured(self.stages)})",
            )
        return self.app


def merged_tree(config: Any) -> dict[str, Any]:
    """The ``herotasks`` subtree with every default filled in.

    Python callers may hand a plain ``invoke.Context`` whose config never saw
    our ``Collection.configure``; merging over DEFAULTS makes them equal to
    ``inv`` users.
    """
    _check_runtime_file(config)
    given = _plain(_get(config, "herotasks") or {})
    if not isinstance(given, dict):
        raise ConfigError(f"herotasks must be a mapping, not {given!r}",
                          "check the herotasks: section of invoke.yaml")
    _check_shapes(DEFAULTS["herotasks"], given, "herotasks")
    return _deep_merge(copy.deepcopy(DEFAULTS["herotasks"]), given)


def _check_runtime_file(config: Any) -> None:
    """``-f FILE`` that does not exist: invoke skips it without a word, and
    the run would go ahead without the settings the user meant to give."""
    path = getattr(config, "_runtime_path", None)
    if path and not os.path.isfile(os.path.expanduser(str(path))):
        raise ConfigError(f"config file {path} (given with -f) does not exist",
                          "check the path, or drop -f")


def _check_shapes(defaults: Mapping[str, Any], given: Mapping[str, Any],
                  at: str) -> None:
    """A mapping where a mapping is declared, for Python callers handing a
    plain dict (invoke itself refuses a clash before a task runs)."""
    for key, value in given.items():
        declared = defaults.get(key)
        if isinstance(declared, dict) and value is not None and not isinstance(
                value, Mapping):
            raise ConfigError(f"{at}.{key} must be a mapping, not {value!r}",
                              f"e.g. {key}: {{{', '.join(declared) or '...'}: ...}}")
        if isinstance(declared, dict) and isinstance(value, Mapping) and key != "stages":
            _check_shapes(declared, value, f"{at}.{key}")


def normalize_pathspec(spec: str) -> str:
    """A pathspec as the git adapter wants it: plain, without ``:(glob)``.

    The adapter applies glob magic to every pathspec, so a user who wrote the
    magic (as git's docs show) would otherwise get it twice.
    """
    spec = str(spec).strip()
    return spec[len(":(glob)"):] if spec.startswith(":(glob)") else spec


# -- helpers ----------------------------------------------------------------


def _get(config: Any, key: str) -> Any:
    if isinstance(config, Mapping):
        return config.get(key)
    getter = getattr(config, "get", None)
    return getter(key) if getter else getattr(config, key, None)


def _plain(value: Any) -> Any:
    """invoke's DataProxy -> plain dicts/lists, so the rest is ordinary Python."""
    if isinstance(value, Mapping) or hasattr(value, "_config"):
        return {str(k): _plain(value[k]) for k in value}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        # stages are replaced whole: a stage removed in config must go away
        nested = isinstance(value, Mapping) and isinstance(base.get(key), dict)
        if nested and key != "stages":
            base[key] = _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def _choice(value: Any, allowed: Any, key: str) -> str:
    if value not in allowed:
        raise ConfigError(
            f"{key} is {value!r}",
            f"use one of: {', '.join(sorted(allowed))}",
        )
    return str(value)


def _stages(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise ConfigError("herotasks.stages must be a mapping",
                          "e.g. stages: {production: {app: my-app}}")
    stages: dict[str, str] = {}
    for name, body in raw.items():
        if isinstance(body, str):  # `production: my-app` is accepted as shorthand
            body = {"app": body}
        # A typo'd key ("ap") says more than "names no app", so check it first.
        keys = set(body) if isinstance(body, Mapping) else set()
        unknown = sorted(keys - set(STAGE_KEYS))
        if unknown:
            raise ConfigError(
                f"stage {name!r} has unknown key {unknown[0]!r}",
                f"stage keys are: {', '.join(STAGE_KEYS)}",
            )
        if not isinstance(body, Mapping) or not body.get("app"):
            raise ConfigError(
                f"stage {name!r} names no app",
                f"set herotasks.stages.{name}.app to the Heroku app name",
            )
        stages[str(name)] = str(body["app"])
    return stages


def _configured(stages: Mapping[str, str]) -> str:
    if not stages:
        return "no stages configured yet: add herotasks.stages.production.app"
    return "configured stages: " + ", ".join(sorted(stages))


def _pick_stage(
    name: str | None, stages: Mapping[str, str], required: bool
) -> tuple[str | None, str | None]:
    if not name and len(stages) == 1:
        name = next(iter(stages))  # the only stage needs no naming
    if not name:
        if required:
            raise ConfigError(
                "no stage given",
                f"pass --stage NAME or set herotasks.stage ({_configured(stages)})",
            )
        return None, None
    if name not in stages:
        raise ConfigError(f"unknown stage {name!r}", _configured(stages))
    return name, stages[name]


def _with_preset(given: Mapping[str, Any], preset: Mapping[str, Any]) -> dict[str, Any]:
    """Config beats preset: a key left at ``None`` takes the preset's value."""
    return {k: (given.get(k) if given.get(k) is not None else preset.get(k))
            for k in set(given) | set(preset)}


def _require_given(preset: str, assets: Mapping[str, Any],
                   migrations: Mapping[str, Any]) -> None:
    """The custom preset fills nothing in, so the user must say everything.

    ``command: false`` is the explicit "this app has no such step"; then the
    other keys of that group are not needed.
    """
    if preset != "custom":
        return
    missing = []
    for group, body, keys in (("assets", assets, ("command", "inputs", "output")),
                              ("migrations", migrations, ("command", "paths"))):
        if body.get("command") is False:
            continue
        missing += [f"herotasks.{group}.{k}" for k in keys if body.get(k) is None]
    if missing:
        raise ConfigError(
            f"preset custom needs {', '.join(missing)}",
            "set them, pick preset rails or django, or set command: false "
            "for an app without that step",
        )


def _command(value: Any, key: str) -> str | None:
    if value is False or value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a shell command", "or false for none")
    return value


def _pathspecs(value: Any, key: str) -> tuple[str, ...]:
    if value is None or value is False:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and v for v in value
    ):
        raise ConfigError(f"{key} must be a list of git pathspecs",
                          "e.g. [db/migrate, db/schema.rb]")
    return tuple(normalize_pathspec(v) for v in value)


def _scratch_prefix(value: Any) -> str:
    # The scratch app name is PREFIX-<10 hex>; Heroku names are at most 30
    # characters of [a-z0-9-], starting with a letter.
    prefix = str(value or "")
    if not (prefix and prefix[0].isalpha() and len(prefix) <= 19
            and all(ch.islower() or ch.isdigit() or ch == "-" for ch in prefix)):
        raise ConfigError(
            f"herotasks.scratch.prefix is {prefix!r}",
            "use up to 19 lowercase letters, digits or dashes, starting with a letter",
        )
    return prefix


def _hooks(raw: Any, when: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"herotasks.hooks.{when} must map step names to commands")
    hooks: dict[str, tuple[str, ...]] = {}
    # The catalogue imports the actions, which import this module: look it up
    # when hooks are resolved, not when this module loads.
    from herotasks.core.steps import STEP_NAMES

    for step, commands in raw.items():
        if step not in STEP_NAMES:
            raise ConfigError(
                f"herotasks.hooks.{when} names unknown step {step!r}",
                f"steps are: {', '.join(STEP_NAMES)}",
            )
        if isinstance(commands, str):
            commands = [commands]
        if commands is None:
            commands = []
        if not isinstance(commands, (list, tuple)) or not all(
                isinstance(cmd, str) and cmd.strip() for cmd in commands):
            raise ConfigError(
                f"herotasks.hooks.{when}.{step} is {commands!r}",
                "give a shell command or a list of them, e.g. "
                f"{step}: [./bin/notify]",
            )
        hooks[str(step)] = tuple(commands)
    return hooks


def _int(value: Any, key: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} is {value!r}", "use a whole number") from None
    if number < 0:
        raise ConfigError(f"{key} is {value!r}", "use a number >= 0")
    return number


def _health(raw: Any) -> Health:
    if raw is False:
        return Health(enabled=False, precheck=False)
    if not isinstance(raw, Mapping):
        raise ConfigError("herotasks.health must be a mapping (or false)",
                          "e.g. health: {path: /up, status: 200, timeout: 60, "
                          "watch: 10}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"herotasks.health.enabled is {enabled!r}",
                          "use true or false")
    path = raw.get("path")
    if path is not None and not (isinstance(path, str) and path.startswith("/")):
        raise ConfigError(f"herotasks.health.path is {path!r}",
                          "use a path on the app starting with /, e.g. /up")
    status = _int(raw.get("status", 200), "herotasks.health.status")
    if not 100 <= status <= 599:
        raise ConfigError(f"herotasks.health.status is {status}",
                          "use an HTTP status, e.g. 200")
    precheck = raw.get("precheck", True)
    if not isinstance(precheck, bool):
        raise ConfigError(f"herotasks.health.precheck is {precheck!r}",
                          "use true or false")
    smoke = raw.get("smoke")
    if smoke is not None and not (isinstance(smoke, str) and smoke.strip()):
        raise ConfigError(f"herotasks.health.smoke is {smoke!r}",
                          "use a shell command run in the new slug's dyno, "
                          "e.g. bin/smoke, or null")
    return Health(enabled=enabled, path=path, status=status,
                  timeout=float(_int(raw.get("timeout", 60), "herotasks.health.timeout")),
                  watch=float(_int(raw.get("watch", 10), "herotasks.health.watch")),
                  precheck=precheck, smoke=smoke)


def _timeouts(raw: Mapping[str, Any]) -> Timeouts:
    return Timeouts(**{
        name: float(_int(raw.get(name, getattr(Timeouts, name)),
                         f"herotasks.timeouts.{name}"))
        for name in ("build", "release", "migrate", "boot", "stop", "preboot")
    })
