"""The one place herotasks runs a local command.

Under ``fab -H host`` a task gets a fabric ``Connection`` whose ``run`` executes
on the *remote* host (fabric#1858); git and the asset compile must stay on this
machine, so they go through ``Connection.local``. Pre/post tasks and plain
``inv`` get an invoke ``Context``, which has no ``local``: there ``run`` is local.
Everything else in herotasks calls :func:`run_local`, never ``subprocess`` or
``c.run`` directly, so ``MockContext`` and fabric's test fixture see every
command.

Secrets travel in ``env=`` only: invoke echoes the command (``--echo``,
``--dry``) and it shows in ``ps``; the environment does neither.

Every command runs through :mod:`herotasks.adapters.children`'s runner, so it
cannot outlive herotasks unnoticed: a ``kill -9`` of herotasks takes the
command and everything it started down with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from invoke import Context, Result

from herotasks.adapters.children import guarded


def local_runner(c: Context):
    """``c.local`` for a fabric Connection, ``c.run`` for anything else."""
    local = getattr(c, "local", None)
    return local if callable(local) else c.run


#: Environment variables that hold the API token. Commands that run code
#: herotasks does not control (the asset command with its npm and gem
#: packages, the user's hooks) get an environment without them: a build
#: script has no business with the account's token. git pushes get the
#: token through their own credential helper (adapters/git.py).
SECRET_ENV = ("HEROKU_API_KEY",)


def run_local(
    c: Context,
    cmd: str,
    *,
    env: Mapping[str, str] | None = None,
    hide: bool | str | None = None,
    warn: bool = False,
    readonly: bool = False,
    untrusted: bool = False,
    **kw: Any,
) -> Result:
    """Run ``cmd`` on this machine through ``c``.

    :param env: extra environment, added to (not replacing) ours; fabric's
        ``run.replace_env`` default would otherwise drop PATH and HOME.
    :param hide: as invoke's ``hide``.
    :param warn: as invoke's ``warn``: a non-zero exit returns instead of raising.
    :param readonly: the command changes nothing (``git rev-parse``), so it runs
        even under ``--dry``: a dry run must still see the real repository to
        say what it would do. Otherwise invoke's ``run.dry`` applies and the
        command is only echoed.
    :param untrusted: ``cmd`` runs third-party code (asset command, hooks):
        its environment is ours without :data:`SECRET_ENV`, plus ``env``.
    :param kw: anything else invoke's ``run`` accepts (``dry=``, ``pty=``, ...).
        ``in_stream`` defaults to False: deploy commands are non-interactive,
        and forwarding our stdin would break under pytest and CI runners that
        have none (pass ``in_stream=None`` to get invoke's default back).
    """
    kw.setdefault("in_stream", False)
    if untrusted:
        kw["env"] = {**{k: v for k, v in os.environ.items() if k not in SECRET_ENV},
                     **(env or {})}
        kw["replace_env"] = True
    elif env:
        kw["env"] = dict(env)
        kw.setdefault("replace_env", False)
    if hide is not None:
        kw["hide"] = hide
    if readonly:
        kw["dry"] = False
    with guarded(c):
        return local_runner(c)(cmd, warn=warn, **kw)
