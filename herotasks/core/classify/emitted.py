"""The SQL a framework itself emits for a migration, got offline.

Alembic prints it itself: ``alembic upgrade DOWN:REV --sql`` (offline mode,
no database), one revision at a time so each file gets its own SQL; the
command is the preset's migrate command with ``head`` replaced by the range
(``flask db upgrade`` works alike). It needs the project's ``env.py`` to
run offline; where it does not, the static reading is used.

Reading Python or Ruby guesses; the framework's own SQL is the truth (an
``AlterField`` that emits nothing, a ``SlugField``'s index). For Django it is
what ``manage.py sqlmigrate`` prints, got the same way (Django's
``MigrationLoader`` and a schema editor with ``collect_sql=True``), but with
no database at all: the loader is given no connection (so it never asks which
migrations are applied) and the connection is PostgreSQL's, never opened
(the schema editor only collects). It runs in the project's own Python on
this machine, outside any window, over the commit being deployed (the
working tree must be that commit, unchanged), one process for all files.
Where that is not possible (no Django or psycopg here, settings that do not
import, an operation that would need a database) the static reading is used
and the plan says so.

Django asks a live cursor to merge parameters into the SQL
(``DatabaseOperations.compose_sql``); the script quotes them with psycopg's
own ``sql.quote`` instead, which needs none. Django's own steps the script
mirrors: ``Migration.apply`` (each operation's
``state_forwards`` then ``database_forwards``; an operation that does not
``reduce_to_sql`` is reported as such) and ``BaseDatabaseSchemaEditor``'s
deferred SQL (indexes and foreign keys run when the editor closes).
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import tempfile
from typing import Any, Callable, Mapping

#: herotasks' marker in front of the script's one line of JSON
MARK = "HEROTASKS-SQL "

DJANGO_SCRIPT = r'''
import json, os, re, sys
root = os.getcwd()
sys.path.insert(0, root)
if "DJANGO_SETTINGS_MODULE" not in os.environ and os.path.exists("manage.py"):
    found = re.search(r"DJANGO_SETTINGS_MODULE['\"]\s*,\s*['\"]([\w.]+)",
                      open("manage.py").read())
    if found:
        os.environ["DJANGO_SETTINGS_MODULE"] = found.group(1)
out = {}
try:
    import django
    from django.conf import settings
    # PostgreSQL's SQL, whatever the local settings use; never connected:
    # an operation that would introspect the database (some AlterFields)
    # meets a socket that does not exist and fails at once, and that file
    # is read statically; no database the settings name is ever reached
    settings.DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": "herotasks-offline",
        "HOST": "/nonexistent/herotasks-offline", "CONN_MAX_AGE": 0}}
    django.setup()
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations.special import RunPython
    try:
        from psycopg.sql import quote
    except ImportError:  # psycopg2
        from psycopg2.extensions import adapt

        def quote(value, context=None):
            return adapt(value).getquoted().decode()

    def compose_sql(query, params):
        # Django's compose_sql asks a live cursor to mogrify; the same
        # quoting without one (psycopg's own Literal rules)
        if not params:
            return query
        return query % tuple(quote(p, None) for p in params)

    connection.ops.compose_sql = compose_sql
    loader = MigrationLoader(None, ignore_no_migrations=True)
    wanted = {os.path.realpath(p): p for p in sys.argv[1:]}
    for key, migration in loader.disk_migrations.items():
        module = sys.modules.get(migration.__module__)
        path = os.path.realpath(getattr(module, "__file__", "") or "")
        if path not in wanted:
            continue
        try:
            state = loader.project_state(key, at_end=False)
            ops = []
            # atomic=False: an atomic editor opens a transaction, which
            # connects; whether the migration is atomic is reported instead
            with connection.schema_editor(collect_sql=True, atomic=False) as editor:
                for op in migration.operations:
                    entry = {"op": op.describe(), "sql": None}
                    if not op.reduces_to_sql:
                        entry["noop"] = getattr(op, "code", None) is RunPython.noop
                        op.state_forwards(migration.app_label, state)
                    else:
                        old = state.clone()
                        op.state_forwards(migration.app_label, state)
                        start = len(editor.collected_sql)
                        op.database_forwards(migration.app_label, editor, old, state)
                        entry["sql"] = "\n".join(editor.collected_sql[start:])
                    ops.append(entry)
                done = len(editor.collected_sql)
            deferred = "\n".join(editor.collected_sql[done:])
            out[wanted[path]] = {"atomic": migration.atomic, "ops": ops,
                                 "deferred": deferred}
        except Exception as err:
            out[wanted[path]] = {"error": f"{type(err).__name__}: {err}"[:300]}
except Exception as err:
    out = {"error": f"{type(err).__name__}: {err}"[:300]}
print("HEROTASKS-SQL " + json.dumps(out))
'''


def django_sql(run: Callable[[str], tuple[bool, str]], python: str,
               paths: list[str]) -> tuple[dict[str, Any], str]:
    """Each file's operations and their SQL, as Django emits it for
    PostgreSQL, plus why none came when none did.

    :param run: runs a shell command in the project's root, returning
        (exit ok, stdout); the deploy passes :func:`herotasks.adapters.shell.
        run_local`, tests a subprocess.
    :param python: the project's interpreter (``python`` of the migrate
        command).
    """
    fd, script = tempfile.mkstemp(prefix="herotasks-sqlmigrate-", suffix=".py")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(DJANGO_SCRIPT)
        ok, stdout = run(" ".join([shlex.quote(python), shlex.quote(script),
                                   *(shlex.quote(p) for p in paths)]))
    finally:
        os.unlink(script)
    line = next((ln for ln in stdout.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        return {}, ("the project's Python did not run the script"
                    if not ok else "no answer from the script")
    data = json.loads(line[len(MARK):])
    if "error" in data and isinstance(data["error"], str):
        return {}, data["error"]
    return data, ""


def python_of(command: str | None) -> str | None:
    """``python`` from ``python manage.py migrate`` (the interpreter the app's
    own commands use), None when the command is no ``python manage.py``."""
    words = shlex.split(command or "")
    if len(words) >= 2 and os.path.basename(words[0]).startswith("python") and \
            words[1].endswith("manage.py"):
        return words[0]
    return None


def revision_range(text: str) -> str | None:
    """``DOWN:REV`` of an Alembic revision file (``REV`` for the first one),
    None for a merge or a file that does not say."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                    found[target.id] = node.value.value
    rev, down = found.get("revision"), found.get("down_revision", ...)
    if not isinstance(rev, str) or not (down is None or isinstance(down, str)):
        return None
    return f"{down}:{rev}" if down else rev


def alembic_command(migrate_command: str | None) -> str | None:
    """``alembic upgrade`` from ``alembic upgrade head`` (or ``flask db
    upgrade``): the migrate command without its target."""
    words = shlex.split(migrate_command or "")
    if "upgrade" not in words:
        return None
    return " ".join(shlex.quote(w) for w in words[:words.index("upgrade") + 1])


def alembic_sql(run: Callable[[str], tuple[bool, str]], command: str,
                texts: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """Each revision file's SQL, as ``alembic upgrade DOWN:REV --sql`` prints
    it; a file it cannot be had for gets ``{"error": ...}``."""
    out: dict[str, Any] = {}
    for path, text in texts.items():
        span = revision_range(text)
        if span is None:
            out[path] = {"error": "no single down_revision (a merge?)"}
            continue
        ok, stdout = run(f"{command} {shlex.quote(span)} --sql")
        out[path] = {"sql": stdout} if ok else {
            "error": f"{command} {span} --sql failed"}
    return out, ""


_Run = Callable[[str], tuple[bool, str]]


def from_django(run: _Run, migrate_command: str | None,
                texts: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    python = python_of(migrate_command)
    if python is None:
        return {}, "the migrate command is no `python manage.py`"
    return django_sql(run, python, list(texts))


def from_alembic(run: _Run, migrate_command: str | None,
                 texts: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    command = alembic_command(migrate_command)
    if command is None:
        return {}, "the migrate command is no `... upgrade`"
    return alembic_sql(run, command, texts)


#: Preset.sql_from -> how that framework's SQL is got: (run, migrate command,
#: {path: text}) -> ({path: data}, why none)
SOURCES = {"django": from_django, "alembic": from_alembic}
