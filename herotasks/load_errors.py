"""Bad config files and variables, explained in one line.

invoke loads and merges them before any task runs, so their errors never
reach a task's error boundary: a scalar where
herotasks declares a mapping (``timeouts: 5``) is invoke's
``AmbiguousMergeError``, a YAML slip is a ``YAMLError``,
``INVOKE_HEROTASKS_TIMEOUTS_BOOT=abc`` a ``ValueError`` from its env loader,
each with a traceback that names neither the file nor the key.
:func:`explain_load_error` turns those (and only those) into one
:class:`ConfigError` line naming the file, key or variable and what to write
instead. Where it runs:

- ``herotasks ...``: :meth:`herotasks.cli.HerotasksProgram.run` catches them, for every
  config level (system, user, project, ``-f``, environment).
- ``inv``/``fab`` with the user's own tasks.py: no herotasks code runs between
  invoke's merge and the task, so importing :mod:`herotasks.tasks` installs
  :func:`install_excepthook`, which prints the same line for these errors and
  hands every other exception to the previous hook untouched. It covers what
  happens after tasks.py is imported (project file, ``-f`` file, environment,
  collection merge); a broken ``~/.invoke.yaml`` or ``/etc/invoke.yaml`` is
  read before tasks.py and still gets invoke's traceback under ``inv``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator

from invoke import Config
from invoke.config import AmbiguousMergeError, copy_dict, merge_dicts
from invoke.exceptions import UncastableEnvVar, UnknownFileType
from invoke.util import yaml

from herotasks.errors import ConfigError

#: invoke's config levels that come from files, in merge order.
_FILE_LEVELS = ("system", "user", "project", "runtime")
#: Examples for mappings whose default is empty (nothing to show from it).
_EXAMPLES = {
    "herotasks": "herotasks: {stages: {production: {app: my-app}}}",
    "herotasks.stages": "stages: {production: {app: my-app}}",
    "herotasks.hooks": "hooks: {before: {db.migrate: [./bin/notify]}}",
    "herotasks.hooks.before": "before: {db.migrate: [./bin/notify]}",
    "herotasks.hooks.after": "after: {db.migrate: [./bin/notify]}",
    # invoke merges no scalar over a declared mapping, so `health: false`
    # cannot reach herotasks from a file: this is the way to say it
    "herotasks.health": "health: {enabled: false}",
}


def explain_load_error(exc: BaseException, config: Any = None) -> ConfigError | None:
    """One line for an error invoke raised while loading config, else None.

    :param config: the invoke ``Config`` being loaded; found in the
        traceback when not given.
    """
    tb = exc.__traceback__
    if isinstance(exc, yaml.YAMLError) and _in_invoke(tb, "_load_file"):
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = (f"{_shown(mark.name)} line {mark.line + 1}" if mark
                 else _shown(_local(tb, "_load_file", "filepath") or "a config file"))
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return ConfigError(f"{where} is not valid YAML ({problem})",
                           "fix the file (look for a missing bracket, quote or "
                           "indentation)")
    if isinstance(exc, ValueError) and _in_invoke(tb, "_load_json"):
        path = _local(tb, "_load_json", "path")
        return ConfigError(f"{_shown(path or 'a JSON config file')} is not valid "
                           f"JSON ({exc})", "fix the file")
    if isinstance(exc, UnknownFileType):
        return ConfigError(str(exc).replace("Config files", "config files"),
                           "give -f a .yaml, .yml, .json or .py config file")
    if isinstance(exc, AmbiguousMergeError):
        config = config if config is not None else _config_in(tb)
        found = _mismatch(config) if config is not None else None
        if found is None:
            return ConfigError(
                f"a config file has a value of the wrong shape ({exc})",
                "check the herotasks: section of invoke.yaml and any -f file")
        source, key, value, wants_mapping = found
        if wants_mapping:
            return ConfigError(
                f"{source}: {key} must be a mapping, not {_brief(value)}",
                f"write it as {_example(key, config)}")
        return ConfigError(f"{source}: {key} must be a single value, not a mapping",
                           f"e.g. {_example(key, config)}")
    if isinstance(exc, (ValueError, TypeError, UncastableEnvVar)) and _in_invoke(
            tb, "_path_set"):
        key_path = _local(tb, "_path_set", "key_path") or []
        value = _local(tb, "_path_set", "value")
        env = _local(tb, "_path_set", "self")
        prefix = getattr(env, "_prefix", None) or "INVOKE_"
        var = prefix + "_".join(key_path).upper()
        key = ".".join(key_path)
        if isinstance(exc, UncastableEnvVar):
            return ConfigError(f"{var} sets {key}, a list, which an environment "
                               "variable cannot hold", f"unset {var} and set {key} "
                               "in invoke.yaml")
        old = _local(tb, "_cast", "old")
        kind = "a whole number" if isinstance(old, int) else (
            "a number" if isinstance(old, float) else f"a {type(old).__name__}")
        return ConfigError(f"{var} is {_brief(value)}, but {key} needs {kind}",
                           f"fix or unset {var}")
    return None


def install_excepthook() -> None:
    """Make invoke's config-loading errors one line under ``inv`` too.

    Idempotent; every exception :func:`explain_load_error` does not know goes
    to the hook that was there before, as before.
    """
    previous = sys.excepthook
    if getattr(previous, "herotasks", False):
        return

    def hook(kind: type[BaseException], value: BaseException,
             tb: TracebackType | None) -> None:
        try:
            error = explain_load_error(value)
        except Exception:  # noqa: BLE001 - never hide the original error
            error = None
        if error is None:
            previous(kind, value, tb)
            return
        print(f"herotasks: {error}", file=sys.stderr)

    hook.herotasks = True  # type: ignore[attr-defined]
    sys.excepthook = hook


# -- helpers ------------------------------------------------------------------


def _frames(tb: TracebackType | None) -> Iterator[Any]:
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _invoke_dir() -> str:
    import invoke

    return os.path.dirname(invoke.__file__) + os.sep


def _in_invoke(tb: TracebackType | None, function: str) -> bool:
    """Whether ``function`` of invoke's own code is in the traceback."""
    where = _invoke_dir()
    return any(f.f_code.co_name == function and f.f_code.co_filename.startswith(where)
               for f in _frames(tb))


def _local(tb: TracebackType | None, function: str, name: str) -> Any:
    """A local variable of the innermost invoke frame running ``function``."""
    where = _invoke_dir()
    found = None
    for f in _frames(tb):
        if f.f_code.co_name == function and f.f_code.co_filename.startswith(where):
            found = f.f_locals.get(name, found)
    return found


def _config_in(tb: TracebackType | None) -> Config | None:
    for frame in _frames(tb):
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Config):
            return candidate
        if isinstance(getattr(candidate, "config", None), Config):
            return candidate.config
    return None


def _mismatch(config: Config) -> tuple[str, str, Any, bool] | None:
    """The first file value whose shape clashes with what is declared.

    Walks the file levels in invoke's merge order over the defaults and the
    collection's config, as invoke merges them, so the clash found is the one
    invoke tripped on: (file, dotted key, value, whether a mapping was due).
    """
    base = copy_dict(getattr(config, "_defaults", {}) or {})
    merge_dicts(base, copy_dict(getattr(config, "_collection", {}) or {}))
    for level in _FILE_LEVELS:
        data = getattr(config, f"_{level}", None)
        if not isinstance(data, dict) or not data:
            continue
        path = getattr(config, f"_{level}_path", None) or f"the {level} config file"
        clash = _clash(base, data, [])
        if clash is not None:
            return (_shown(path), *clash)
        merge_dicts(base, data)
    return None


def _clash(base: dict, data: dict, at: list[str]) -> tuple[str, Any, bool] | None:
    for key, value in data.items():
        if key not in base:
            continue
        here = [*at, str(key)]
        if isinstance(base[key], dict) and not isinstance(value, dict):
            return ".".join(here), value, True
        if isinstance(value, dict) and not isinstance(base[key], dict):
            return ".".join(here), value, False
        if isinstance(value, dict):
            found = _clash(base[key], value, here)
            if found is not None:
                return found
    return None


def _example(key: str, config: Config) -> str:
    if key in _EXAMPLES:
        return _EXAMPLES[key]
    default: Any = copy_dict(getattr(config, "_defaults", {}) or {})
    merge_dicts(default, copy_dict(getattr(config, "_collection", {}) or {}))
    for part in key.split("."):
        default = default.get(part) if isinstance(default, dict) else None
    leaf = key.rsplit(".", 1)[-1]
    if isinstance(default, dict) and default:
        items = list(default.items())
        if len(items) > 4 or any(isinstance(v, (dict, list)) for _, v in items):
            items = items[:1]
        return f"{leaf}: {{{', '.join(f'{k}: {_yaml(v)}' for k, v in items)}}}"
    if not isinstance(default, dict) and default is not None:
        return f"{leaf}: {_yaml(default)}"
    return f"{leaf}: {{...}}"


def _yaml(value: Any) -> str:
    if isinstance(value, dict):
        return "{...}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, list) else "[...]"


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _shown(path: Any) -> str:
    """A path relative to the working directory when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (TypeError, ValueError, OSError):
        return str(path)
