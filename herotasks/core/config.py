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
import difflib
import os
import shlex
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
        # enabled: null means on; declared null (not true) so that invoke
        # passes INVOKE_HEROTASKS_HEALTH_ENABLED=false on as the string it is
        # (it casts an env var over a bool default to True unless "0" or "").
        # precheck (null means on, likewise): before the release, the new
        # slug's web process boots in a one-off dyno on the scratch app and is
        # asked on its own $PORT (path and status, or `/` below 500), and
        # `smoke` (a shell command) runs there too; a failure stops the deploy
        # before anything is released
        "health": {"enabled": None, "path": None, "status": 200, "timeout": 60,
                   "watch": 10, "precheck": None, "smoke": None},
        "api": {"url": None, "cabundle": None, "retries": 4},
        "statedir": ".herotasks",
    }
}

@dataclass(frozen=True)
class IgnoreRule:
    """Which files under a preset's migration paths are not migrations."""

    #: paths ending so are regenerated from the migrations and never run
    #: (Rails' db/schema.rb and db/structure.sql)
    paths_ending: tuple[str, ...] = ()
    #: file names that only keep a folder in git (.keep, .gitkeep)
    names: tuple[str, ...] = ()
    #: when set, only names ending so are migrations (Django and Alembic: .py)
    only_ending: tuple[str, ...] = ()
    #: names that are not migrations while they exist, but whose deletion is
    #: not harmless (a migrations package's __init__.py)
    unless_deleted: tuple[str, ...] = ()

    def ignores(self, path: str, *, deleted: bool) -> bool:
        name = path.rsplit("/", 1)[-1]
        if name in self.unless_deleted:
            return not deleted
        if path.endswith(self.paths_ending) or name in self.names:
            return True
        return bool(self.only_ending) and not name.endswith(self.only_ending)


@dataclass(frozen=True)
class Preset:
    """One framework's defaults: a new framework is one record here plus its
    reader module in herotasks.core.classify.

    Migration paths are git pathspecs, matched with git's :(glob) magic
    (gitignore-like ``**``; a plain directory matches everything under it):
    herotasks.adapters.git adds the magic.
    """

    name: str
    assets_command: str | None = None
    assets_inputs: tuple[str, ...] | None = None
    assets_output: str | None = None
    migrate_command: str | None = None
    migration_paths: tuple[str, ...] | None = None
    #: the herotasks.core.classify module that reads its migration files
    reader: str = "sql"
    ignore: IgnoreRule = IgnoreRule()
    #: config vars set on the scratch app when herotasks compiles the assets
    #: itself (so the buildpack does not compile them again)
    scratch_config: tuple[tuple[str, str], ...] = ()
    #: how the framework's own SQL for a migration is got offline
    #: (herotasks.core.classify.emitted), None when only the reader reads
    sql_from: str | None = None
    #: folders whose migrations run after the release by the framework's
    #: convention (Rails' db/post_migrate): their files are ``after``
    #: unless their reading is window
    after_dirs: tuple[str, ...] = ()
    #: COUNT_SINCE_GO: once migrated, the holds of rails and django count,
    #: on their own connection, the other connections to their database
    #: opened since ~2 s before ``go`` (pg_stat_activity's backend_start
    #: after the database's clock then; a start it may not show counts),
    #: once more 0.3 s later if some (a connection the migration itself
    #: just closed), and say ``herotasks: connections since go: N``
    #: (core.dynos.CONNECTIONS); any error (not PostgreSQL, no permission)
    #: says nothing and never fails the migration. dynos.restart skips the
    #: restart on 0 (docs/architecture.md).
    #: the window's migration, started before it (core.dynos.hold): a shell
    #: command that boots the app as the migrate command would, says
    #: ``herotasks: ready to migrate`` and reads one line from its input; on
    #: ``go`` it runs the migrate command in that booted process, on anything
    #: else (its input ends when herotasks dies) it exits 75 without
    #: migrating. Used when the migrate command is the preset's own; else
    #: the generic hold (:func:`hold_command`).
    migrate_hold: str | None = None

    @property
    def assets(self) -> dict[str, Any]:
        return {"command": self.assets_command,
                "inputs": list(self.assets_inputs) if self.assets_inputs else None,
                "output": self.assets_output}

    @property
    def migrations(self) -> dict[str, Any]:
        return {"command": self.migrate_command,
                "paths": list(self.migration_paths) if self.migration_paths else None}


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        "rails",
        assets_command="bin/rails assets:precompile",
        assets_inputs=("app/assets", "lib/assets", "vendor/assets", "app/javascript",
                       "Gemfile.lock", "package.json", "yarn.lock"),
        assets_output="public/assets",
        migrate_command="bin/rails db:migrate",
        # db/post_migrate: post-deployment migrations (GitLab's and Mastodon's
        # convention); they run with db:migrate unless SKIP_POST_DEPLOYMENT_
        # MIGRATIONS is set; herotasks classifies them ``after`` and runs
        # them once the new release is live (core.classify)
        migration_paths=("db/migrate", "db/post_migrate", "db/schema.rb",
                         "db/structure.sql"),
        # the app booted by `rails runner` (eager loading, initializers),
        # then db:migrate run as a rake task in it; then the connections
        # counted (COUNT_SINCE_GO)
        migrate_hold=("bin/rails runner 'Rails.application.load_tasks; "
                      'puts "herotasks: ready to migrate"; $stdout.flush; '
                      'if $stdin.gets.to_s.strip == "go" then '
                      "herotasks_db = ActiveRecord::Base; "
                      "herotasks_go = (Float(herotasks_db.connection.select_value("
                      '"SELECT (extract(epoch FROM clock_timestamp()) - 2)::text").to_s) '
                      "rescue nil); "
                      'Rake::Task["db:migrate"].invoke; '
                      "if herotasks_go then herotasks_n = nil; "
                      "[0, 0.3].each { |pause| sleep pause; "
                      "herotasks_n = (Integer(herotasks_db.connection.select_value("
                      '"SELECT count(*)::text FROM pg_stat_activity WHERE datname = '
                      "current_database() AND pid <> pg_backend_pid() AND "
                      "(backend_start IS NULL OR backend_start > to_timestamp("
                      '#{herotasks_go}))").to_s) rescue nil); '
                      "break unless herotasks_n && herotasks_n > 0 }; "
                      'puts "herotasks: connections since go: #{herotasks_n}" '
                      "if herotasks_n; $stdout.flush end "
                      'else puts "herotasks: no go, not migrating"; exit 75 end\''),
        reader="rails",
        after_dirs=("db/post_migrate",),
        ignore=IgnoreRule(paths_ending=("db/schema.rb", "db/structure.sql"),
                          names=(".keep", ".gitkeep")),
    ),
    Preset(
        "django",
        assets_command="python manage.py collectstatic --noinput",
        # collectstatic's result depends on the static dirs, on the settings
        # (STATIC_*, INSTALLED_APPS) and on the installed packages (admin's
        # files come from Django itself), so lock files count as inputs.
        assets_inputs=("**/static/**", "**/settings.py", "**/settings/**",
                       "requirements.txt", "Pipfile.lock", "poetry.lock", "uv.lock"),
        assets_output="staticfiles",
        migrate_command="python manage.py migrate --noinput",
        # manage.py run as itself, its execute_from_command_line held: Django
        # set up and the migrate command and migration files imported, then
        # `migrate --noinput` run in that process on `go`; then the
        # connections counted (COUNT_SINCE_GO)
        migrate_hold=(
            "python -c 'import runpy, sys\n"
            "import django.core.management as m\n"
            "run = m.execute_from_command_line\n"
            "def hold(argv=None):\n"
            "    import django\n"
            "    django.setup()\n"
            "    import django.core.management.commands.migrate\n"
            "    from django.db.migrations.loader import MigrationLoader\n"
            "    MigrationLoader(None, ignore_no_migrations=True)\n"
            "    print(\"herotasks: ready to migrate\", flush=True)\n"
            "    if sys.stdin.readline().strip() != \"go\":\n"
            "        print(\"herotasks: no go, not migrating\", flush=True)\n"
            "        sys.exit(75)\n"
            "    from django.db import connection\n"
            "    def one(sql, *args):\n"
            "        with connection.cursor() as cursor:\n"
            "            cursor.execute(sql, args)\n"
            "            return cursor.fetchone()[0]\n"
            "    try:\n"
            "        since = float(one(\"SELECT extract(epoch FROM clock_timestamp())"
            " - 2\"))\n"
            "    except Exception:\n"
            "        since = None\n"
            "    run(argv)\n"
            "    if since is None:\n"
            "        return\n"
            "    import time\n"
            "    try:\n"
            "        for pause in (0, 0.3):\n"
            "            time.sleep(pause)\n"
            "            n = int(one(\"SELECT count(*) FROM pg_stat_activity WHERE"
            " datname = current_database() AND pid <> pg_backend_pid() AND"
            " (backend_start IS NULL OR backend_start > to_timestamp(%s))\","
            " since))\n"
            "            if not n:\n"
            "                break\n"
            "    except Exception:\n"
            "        return\n"
            "    print(\"herotasks: connections since go: %d\" % n, flush=True)\n"
            "m.execute_from_command_line = hold\n"
            "sys.argv[0] = \"manage.py\"\n"
            "runpy.run_path(\"manage.py\", run_name=\"__main__\")' migrate --noinput"),
        migration_paths=("**/migrations/**",),
        reader="django",
        sql_from="django",
        ignore=IgnoreRule(only_ending=(".py",), unless_deleted=("__init__.py",)),
        # Heroku's Python buildpack runs collectstatic on every build unless
        # this is set (it never looks for a committed staticfiles.json)
        scratch_config=(("DISABLE_COLLECTSTATIC", "1"),),
    ),
    Preset(
        # Flask and FastAPI apps with Alembic (Flask-Migrate keeps its
        # versions under migrations/versions); no asset step by default
        "alembic",
        migrate_command="alembic upgrade head",
        migration_paths=("alembic/versions", "migrations/versions"),
        reader="alembic",
        sql_from="alembic",
        ignore=IgnoreRule(only_ending=(".py",), unless_deleted=("__init__.py",)),
    ),
    # everything from the user's config; migrations read as SQL files
    Preset("custom", reader="sql"),
)}

#: The generic hold (any migrate command): the dyno starts, says it is
#: ready, and runs the command once it reads ``go``; only the command's own
#: start-up is left in the window. 75 (EX_TEMPFAIL): never told to go.
GENERIC_HOLD = ('echo "herotasks: ready to migrate"; '
                'if IFS= read -r herotasks_go && [ "$herotasks_go" = go ]; then {command}; '
                'else echo "herotasks: no go, not migrating"; (exit 75); fi')


def hold_command(settings: "Settings", generic: bool = False) -> str:
    """The command of the migration dyno started before the window: the
    preset's pre-boot when the migrate command is the preset's own, else
    the generic hold around the migrate command, as one ``bash -c``
    command (so a generation's one-off prefix, Fir's ``launcher``, applies
    to all of it).

    :param generic: the generic hold whatever the preset.
    """
    preset = PRESETS[settings.preset]
    if (not generic and preset.migrate_hold
            and settings.migrate_command == preset.migrate_command):
        return preset.migrate_hold
    return "bash -c " + shlex.quote(GENERIC_HOLD.format(command=settings.migrate_command))


PROMOTE_METHODS = ("slug", "pipeline")
#: herotasks.migrations.mode: auto reads each pending migration (core.classify),
#: window always takes the maintenance window, online never does (the user vouches),
#: after runs every pending migration once the new release is live and the old
#: one is gone (contract: the user vouches that they only remove what the new
#: code no longer uses).
MIGRATION_MODES = ("auto", "window", "online", "after")
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
        assets = _with_preset(tree["assets"], PRESETS[preset].assets)
        migrations = _with_preset(tree["migrations"], PRESETS[preset].migrations)
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
    _check_keys(DEFAULTS["herotasks"], given)
    return _deep_merge(copy.deepcopy(DEFAULTS["herotasks"]), given)


#: Subtrees whose keys are the user's own names (checked where they are read),
#: and the one another collection declares (the sandbox tasks' root folder).
_FREE = ("herotasks.stages", "herotasks.hooks.before", "herotasks.hooks.after",
         "herotasks.sandbox")


def _check_keys(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """Every key the user wrote must be a declared one: a typo (``helth``,
    ``health: {paht: /up}``, ``migrations: {moed: online}``) would otherwise
    pass silently and leave the default in force. All mistakes in one error,
    each named with the key it most likely meant."""
    mistakes: list[str] = []

    def walk(declared: Mapping[str, Any], value: Mapping[str, Any], at: str) -> None:
        for key, sub in value.items():
            here = f"{at}.{key}"
            if here in _FREE:
                continue
            if key not in declared:
                close = difflib.get_close_matches(str(key), list(declared), n=1)
                mistakes.append(f"{here} is not a setting"
                                + (f" (did you mean {at}.{close[0]}?)" if close
                                   else f" ({at} has: {', '.join(declared)})"))
            elif isinstance(declared[key], dict) and isinstance(sub, Mapping):
                walk(declared[key], sub, here)

    walk(defaults, given, "herotasks")
    if mistakes:
        raise ConfigError("; ".join(mistakes),
                          "fix the key names in invoke.yaml (or the -f file); "
                          "docs/architecture.md lists every setting")


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
        if key == "health" and value is False and at == "herotasks":
            continue  # a Python caller's `health: False` (off), as _health reads it
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
            "set them, pick preset rails, django or alembic, or set command: false "
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
    # Their form only: that each names a step of the catalogue is checked
    # where settings meet it (herotasks.core.steps.check_hooks).
    for step, commands in raw.items():
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


def _int(value: Any, key: str, most: int | None = None) -> int:
    """A whole number >= 0 (and <= ``most``); 2.5 is refused, not cut to 2."""
    if isinstance(value, bool) or (isinstance(value, float)
                                   and not value.is_integer()):
        raise ConfigError(f"{key} is {value!r}", "use a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} is {value!r}", "use a whole number") from None
    if number < 0:
        raise ConfigError(f"{key} is {value!r}", "use a number >= 0")
    if most is not None and number > most:
        raise ConfigError(f"{key} is {value!r}", f"use at most {most}")
    return number


#: herotasks.health.watch, at most: the check holds the deploy lock (and, with
#: the workers back, every later deploy) while it watches; crashes later than
#: ten minutes are for monitoring, not for a rollback by the deploy.
MAX_WATCH = 600
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _bool(value: Any, key: str, default: bool) -> bool:
    """YAML's true/false, or the words an environment variable carries."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ConfigError(f"{key} is {value!r}", "use true or false")


def _health(raw: Any) -> Health:
    if raw is False:
        return Health(enabled=False, precheck=False)
    if not isinstance(raw, Mapping):
        raise ConfigError("herotasks.health must be a mapping (or false)",
                          "e.g. health: {path: /up, status: 200, timeout: 60, "
                          "watch: 10}")
    enabled = _bool(raw.get("enabled"), "herotasks.health.enabled", True)
    path = raw.get("path")
    if path is not None and not (
            isinstance(path, str) and path.startswith("/")
            and path.isprintable() and not any(ch.isspace() for ch in path)):
        raise ConfigError(f"herotasks.health.path is {path!r}",
                          "use a path on the app starting with /, without spaces "
                          "(percent-encode them: %20), e.g. /up")
    status = _int(raw.get("status", 200), "herotasks.health.status")
    if not 100 <= status <= 599:
        raise ConfigError(f"herotasks.health.status is {status}",
                          "use an HTTP status, e.g. 200")
    precheck = _bool(raw.get("precheck"), "herotasks.health.precheck", True)
    smoke = raw.get("smoke")
    if smoke is not None and not (isinstance(smoke, str) and smoke.strip()):
        raise ConfigError(f"herotasks.health.smoke is {smoke!r}",
                          "use a shell command run in the new slug's dyno, "
                          "e.g. bin/smoke, or null")
    return Health(enabled=enabled, path=path, status=status,
                  timeout=float(_int(raw.get("timeout", 60), "herotasks.health.timeout")),
                  watch=float(_int(raw.get("watch", 10), "herotasks.health.watch",
                                   MAX_WATCH)),
                  precheck=precheck, smoke=smoke)


def _timeouts(raw: Mapping[str, Any]) -> Timeouts:
    return Timeouts(**{
        name: float(_int(raw.get(name, getattr(Timeouts, name)),
                         f"herotasks.timeouts.{name}"))
        for name in ("build", "release", "migrate", "boot", "stop", "preboot")
    })
