"""Which pending migrations can run while the old code serves traffic?

A migration is ``online`` when the release running now keeps working on the
schema it leaves behind (additive changes: a new table, a nullable column, a
column with a *database* default, an index built concurrently) and it takes no
lock that stops writes for the length of a table scan. Everything else is
``window``: drops and renames, type changes, NOT NULL without a database
default, plain index builds, validated constraints, data migrations of unknown
effect. Anything not understood is ``window``: a window taken for nothing costs
seconds, a skipped one breaks the app (the same bias as
:mod:`herotasks.core.migrations`).

Files are read, never imported or executed here, by one module per dialect, named
by the preset's record (``herotasks.core.config.PRESETS``): :mod:`.sql` reads
SQL with PostgreSQL's own grammar (pglast) and holds the lock rules, each
citing its source; :mod:`.django` reads Django operations with :mod:`ast`
and knows what each field type Django ships implies; :mod:`.rails` reads
Ruby line by line (no Ruby parser in the stdlib); :mod:`.alembic` reads
Alembic's ``op.*`` calls. SQL written as a literal inside a migration
(``RunSQL``, ``execute``, ``op.execute``) goes to the SQL reader. A new
dialect is one :class:`~herotasks.core.config.Preset` record and one module
with ``READ`` and ``read(path, text) -> (kind, reason, findings)`` (and,
when the framework can print its own SQL offline, ``READ_SQL`` and
``from_sql``, fed by :mod:`.emitted`: then the verdict is the SQL reader's
on what will really run).

The rules, and what they rest on:

- Django's ``default=`` is Python-side only: the schema editor adds the column
  with a DEFAULT to fill existing rows and then drops it, so the old code's
  INSERTs, which do not name the column, fail on a NOT NULL column. Only
  ``db_default`` (Django 5.0+, "database-computed default values" in the 5.0
  release notes) stays in the database; django-pg-zero-downtime-migrations 0.16
  treats ADD COLUMN NOT NULL as safe only with ``db_default`` for that reason,
  and django-add-default-value exists because ``default`` never reaches it.
- A plain ``CREATE INDEX`` locks the table against writes while it scans it;
  ``CONCURRENTLY`` does not (PostgreSQL docs, "Building Indexes Concurrently";
  ``django.contrib.postgres.operations.AddIndexConcurrently`` /
  ``RemoveIndexConcurrently``, which need ``atomic = False``; Rails'
  ``algorithm: :concurrently``, which needs ``disable_ddl_transaction!``).
  A concurrent build that would run in a transaction fails, so it is window.
- strong_migrations (ankane/strong_migrations, "Checks") lists as dangerous:
  removing, renaming or changing the type of a column, renaming a table,
  ``create_table ... force:``, adding an index non-concurrently, adding a
  reference (its index), adding a validated foreign key or check constraint
  (``validate: false`` then ``validate_foreign_key`` is its safe way), an
  auto-incrementing or stored generated column, setting NOT NULL, executing
  SQL and backfilling data.
- PostgreSQL 11+ adds a column with a non-volatile DEFAULT without rewriting
  the table; a volatile one (``gen_random_uuid()``) rewrites it under lock
  (PostgreSQL docs, ALTER TABLE, "Notes"). Defaults that are expressions other
  than ``now()`` are taken as possibly volatile.
- Changing a column's default under running Rails code (unlike SQL's ``SET
  DEFAULT``, which only changes later INSERTs): Active Record caches
  column defaults and, with partial inserts, leaves out a value equal to the
  cached default, so the old code writes the wrong default (GitLab's "Avoiding
  downtime in migrations", ``columns_changing_default``).
- ``SeparateDatabaseAndState``: only its ``database_operations`` touch the
  database (Django's ``operations/special.py``), so those are what is read.

Where the issue left the choice open:

- Removing an index *concurrently* is online: the old code's queries do not
  name indexes, they only get slower; a plain DROP INDEX locks the table.
- ``CreateExtension`` (and ``HStoreExtension``, ...), ``CREATE EXTENSION``,
  ``CREATE SEQUENCE``, ``CREATE TYPE``, ``CREATE SCHEMA`` and ``CREATE VIEW``
  are online: they add objects and lock no table of the app. ``CREATE OR
  REPLACE`` is window: it changes what the old code reads.
- ``AlterUniqueTogether``, ``AlterIndexTogether``, ``AddConstraint`` are
  window: each builds an index or validates the table under lock, and rows the
  old code writes may violate the new rule.
- A Django ``AddField`` of a ForeignKey/OneToOneField, or with ``unique``,
  ``db_index`` or ``primary_key``, is window: the schema editor builds an index
  and a validated foreign key in the same migration (the Rails ``add_reference``
  rule, applied alike). ``ManyToManyField`` only creates a join table: online.
- Rails ``add_reference``/``add_belongs_to``: online only with ``index: false``
  or ``index: {algorithm: :concurrently}``, no ``foreign_key`` and not
  ``null: false``; ``add_timestamps`` only with ``null: true`` (Rails 5+ adds
  them NOT NULL). ``change_column_default`` and ``remove_index`` (unless
  concurrent) are window.
- A Rails file is read in its ``up`` method when it has one, else ``change``;
  a ``down``-only file is window; which blocks are read: :mod:`.rails`.

A third verdict, ``after`` (contract, issue 16): a file that only removes
what the new code no longer uses (DROP COLUMN/TABLE/INDEX/CONSTRAINT; Django
``RemoveField``, ``DeleteModel``, ``RemoveIndex``, ``RemoveConstraint``; Rails
``remove_column``, ``drop_table``, ``remove_index``, ``remove_reference``;
Alembic ``op.drop_*``) runs once the new release is live and no dyno of the
old one is left, with no window (GitLab's ``db/post_migrate``, Mastodon's
post-deployment migrations). A file that both adds and removes is window (it
can run only at one time). Rails files under ``db/post_migrate/`` are
``after`` by convention unless their reading is window. Renames and type
changes stay window (the old and the new code read different names).

A marker comment line ``herotasks: online``, ``herotasks: after`` or
``herotasks: window`` (``#`` in Python and Ruby, ``--`` in SQL) beats the
reading; ``migrations.mode`` beats both except that a file marked window stays
window under ``online`` or ``after``, and one marked after stays after under
``online`` (running it early would break the old code).
"""

from __future__ import annotations

import importlib
from typing import Any, Iterable, Mapping

from herotasks.core.classify import rails
from herotasks.core.classify.common import (
    AFTER,
    IGNORED,
    ONLINE,
    WINDOW,
    Finding,
    Verdict,
    marker,
)
from herotasks.core.config import MIGRATION_MODES, PRESETS

__all__ = ["AFTER", "IGNORED", "ONLINE", "WINDOW", "Finding", "Verdict", "classify",
           "classify_all", "contract", "needs_window"]


def classify(preset: str, path: str, text: str | None, *,
             mode: str = "auto", emitted: Mapping[str, Any] | None = None,
             unavailable: str = "") -> Verdict:
    """The verdict for one file of the diff.

    :param preset: a name in ``PRESETS`` (its record names the reader).
    :param text: the new content; ``None`` when the diff deletes the file
        (window: a migration that vanished was run or is about to be missing).
    :param mode: ``herotasks.migrations.mode``.
    :param emitted: the SQL the framework emits per file
        (:mod:`.emitted`); a file with it is classified from it, the others
        are read statically.
    :param unavailable: why the framework's SQL could not be had (shown).
    :raises ValueError: an unknown preset or mode (Settings validates both).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}")
    if mode not in MIGRATION_MODES:
        raise ValueError(f"unknown migrations mode {mode!r}")
    record = PRESETS[preset]
    if record.ignore.ignores(path, deleted=text is None):
        return Verdict(path, IGNORED, "not a migration")
    if mode == "window":
        return Verdict(path, WINDOW, "migrations.mode: window", "setting")
    # a Ruby heredoc's lines are data (SQL), not the author's comments
    readable = rails.without_heredocs(text) if text is not None and path.endswith(".rb") else text
    mark = marker(path, readable) if readable is not None else None
    if mark is not None:
        kind, reason = mark
        if mode in (ONLINE, AFTER) and kind == ONLINE:
            return Verdict(path, mode, f"migrations.mode: {mode}", "setting")
        return Verdict(path, kind, reason, "marker")
    if mode in (ONLINE, AFTER):
        return Verdict(path, mode, f"migrations.mode: {mode}", "setting")
    if text is None:
        return Verdict(path, WINDOW, "deleted in the diff")
    verdict = _read(record, reader_name=record.reader, path=path, text=text,
                    emitted=emitted, unavailable=unavailable)
    folder = next((d for d in record.after_dirs
                   if f"/{d.strip('/')}/" in f"/{path}"), None)
    if folder and verdict.kind == ONLINE:
        # GitLab's and Mastodon's convention: post-deployment migrations run
        # once the new code is live; a window reading stays window
        return Verdict(path, AFTER, f"{folder}: after the release by "
                       f"convention ({verdict.reason})", verdict.read,
                       verdict.findings)
    return verdict


def _read(record: Any, *, reader_name: str, path: str, text: str,
          emitted: Mapping[str, Any] | None, unavailable: str) -> Verdict:
    """The file as its dialect's reader sees it (the framework's SQL when
    there is some)."""
    reader = importlib.import_module(f"{__name__}.{reader_name}")
    data = (emitted or {}).get(path)
    if isinstance(data, dict) and "error" not in data:
        kind, reason, found = reader.from_sql(path, text, data)
        return Verdict(path, kind, reason, reader.READ_SQL, tuple(found.items))
    kind, reason, found = reader.read(path, text)
    why = (data or {}).get("error") if isinstance(data, dict) else None
    read = reader.READ
    if record.sql_from and (why or unavailable):
        read += f" (no SQL from the framework: {why or unavailable})"
    return Verdict(path, kind, reason, read, tuple(found.items))


def classify_all(preset: str, files: Mapping[str, str | None], *,
                 mode: str = "auto", emitted: Mapping[str, Any] | None = None,
                 unavailable: str = "") -> tuple[Verdict, ...]:
    """Verdicts for every file of the diff, in the order given."""
    return tuple(classify(preset, path, text, mode=mode, emitted=emitted,
                          unavailable=unavailable)
                 for path, text in files.items())


def contract(verdicts: Iterable[Verdict]) -> tuple[Verdict, ...]:
    """The files that run after the release (``after``)."""
    return tuple(v for v in verdicts if v.kind == AFTER)


def needs_window(verdicts: Iterable[Verdict]) -> bool:
    """True when any file needs the maintenance window."""
    return any(v.kind == WINDOW for v in verdicts)
