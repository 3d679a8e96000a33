"""The gap between the release and the contract: is a dropped column safe
for the new code's INSERTs until it is gone?

The new code no longer names the column, so its INSERTs leave it out: they
work while the column is nullable or has a database default, and fail while
it is NOT NULL without one. Whether it is, is read from the deployed
commit, which describes the schema the database has now:

- Rails: ``db/schema.rb``, the ``t.<type> "<column>"`` line in its
  ``create_table`` block: ``null: false`` without ``default:`` is unsafe
  (Rails' schema dumper writes both options when they are set).
- Django: the app's migrations, where the field was last defined
  (``CreateModel`` fields, ``AddField``, ``AlterField``): ``null=True`` or
  ``db_default=`` is safe; Django's ``default=`` never reaches the database
  (see :mod:`herotasks.core.classify`).

What cannot be read this way (a SQL or Alembic file, a field defined
elsewhere, ``db/structure.sql``) stays unproven, and the plan takes the
window and says why.
"""

from __future__ import annotations

import ast
import posixpath
import re
from dataclasses import replace
from typing import Any, Callable, Iterable

from herotasks.core.classify.common import Verdict

Read = Callable[[str], "str | None"]


def resolve(preset: str, verdicts: Iterable[Verdict], read: Read) -> tuple[Verdict, ...]:
    """``verdicts`` with each column drop proven safe cleared of its gap,
    the proof in its finding's reason.

    :param read: a file's text at the deployed commit (a folder's: ``git
        show``'s listing), None when absent.
    """
    out = []
    cache: dict[str, Any] = {}
    for verdict in verdicts:
        if not verdict.column_drops:
            out.append(verdict)
            continue
        findings = []
        for f in verdict.findings:
            proof = _safe(preset, verdict.path, f.drops_column, read, cache) \
                if f.drops_column else None
            if proof:
                f = replace(f, drops_column="", why=f"{f.why}; {proof}".lstrip("; "))
            findings.append(f)
        out.append(replace(verdict, findings=tuple(findings)))
    return tuple(out)


def _safe(preset: str, path: str, column: str, read: Read,
          cache: dict[str, Any]) -> str | None:
    table, _, name = column.partition(".")
    if preset == "rails":
        if "schema" not in cache:
            cache["schema"] = rails_columns(read("db/schema.rb") or "")
        options = cache["schema"].get(table, {}).get(name)
        if options is None:
            return None
        if "null: false" in options and "default:" not in options:
            return None
        return "nullable or with a default in db/schema.rb at the deployed commit"
    if preset == "django":
        folder = posixpath.dirname(path)
        if folder not in cache:
            cache[folder] = django_fields(folder, read)
        # read statically the drop names model.field; from Django's own SQL,
        # <app>_<model>.<column> (a ForeignKey's column ends in _id)
        app = posixpath.basename(posixpath.dirname(folder))
        models = [table] + ([table[len(app) + 1:]] if table.startswith(f"{app}_") else [])
        names = [name] + ([name[:-3]] if name.endswith("_id") else [])
        field = next((cache[folder][(m, n)] for m in models for n in names
                      if (m, n) in cache[folder]), None)
        if field:
            return f"{field} where it was last defined"
        return None
    return None


_TABLE = re.compile(r'^\s*create_table\s+"([^"]+)"')
_COLUMN = re.compile(r'^\s*t\.\w+\s+"([^"]+)"(.*)$')


def rails_columns(schema: str) -> dict[str, dict[str, str]]:
    """``{table: {column: options}}`` from ``db/schema.rb``."""
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in schema.splitlines():
        match = _TABLE.match(line)
        if match:
            current = tables.setdefault(match.group(1), {})
            continue
        if line.strip() == "end":
            current = None
            continue
        column = _COLUMN.match(line)
        if current is not None and column:
            current[column.group(1)] = column.group(2)
    return tables


def django_fields(folder: str, read: Read) -> dict[tuple[str, str], str]:
    """``{(model, field): proof or ""}`` from the app's migrations at the
    deployed commit, the last definition winning ("" = not proven safe)."""
    listing = read(folder + "/") or ""
    names = sorted(n for n in listing.split("\n\n", 1)[-1].splitlines()
                   if re.match(r"\d+_\w+\.py$", n))
    fields: dict[tuple[str, str], str] = {}
    for name in names:
        try:
            tree = ast.parse(read(f"{folder}/{name}") or "")
        except SyntaxError:
            continue
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            op = getattr(call.func, "attr", getattr(call.func, "id", ""))
            kw = {k.arg: k.value for k in call.keywords}
            if op == "CreateModel":
                model = kw.get("name", call.args[0] if call.args else None)
                items = kw.get("fields", call.args[1] if len(call.args) > 1 else None)
                if isinstance(model, ast.Constant) and isinstance(items, ast.List):
                    for item in items.elts:
                        if isinstance(item, ast.Tuple) and len(item.elts) == 2 and \
                                isinstance(item.elts[0], ast.Constant):
                            fields[(str(model.value).lower(), str(item.elts[0].value))] = \
                                _proof(item.elts[1])
            elif op in ("AddField", "AlterField"):
                model = kw.get("model_name", call.args[0] if call.args else None)
                field = kw.get("name", call.args[1] if len(call.args) > 1 else None)
                value = kw.get("field", call.args[2] if len(call.args) > 2 else None)
                if isinstance(model, ast.Constant) and isinstance(field, ast.Constant):
                    fields[(str(model.value).lower(), str(field.value))] = _proof(value)
    return fields


def _proof(field: ast.expr | None) -> str:
    if not isinstance(field, ast.Call):
        return ""
    kw = {k.arg: k.value for k in field.keywords}
    null = kw.get("null")
    if isinstance(null, ast.Constant) and null.value is True:
        return "null=True"
    if "db_default" in kw:
        return "db_default="
    return ""


# -- the expand: what makes an unproven gap safe, before the release ------------
#
# A dropped column that may be NOT NULL without a default is made nullable
# before the release, while the old code serves: ``ALTER TABLE ... ALTER
# COLUMN ... DROP NOT NULL`` changes only the catalog (PostgreSQL docs,
# ALTER TABLE: "SET/DROP NOT NULL ... SET NOT NULL may only be applied to a
# column provided none of the records in the table contain a NULL value" --
# only SET scans the table; Notes: "Adding a column with a volatile DEFAULT
# or changing the type of an existing column will require the entire table
# and its indexes to be rewritten", which DROP NOT NULL does not do), so it
# takes its ACCESS EXCLUSIVE lock ("an ACCESS EXCLUSIVE lock is acquired
# unless explicitly noted") only for a moment. The old code, which still
# writes the column, works on it as before; the new code's INSERTs, which
# leave it out, get NULL until the contract drops it. The lock is asked with
# a ``lock_timeout`` (PostgreSQL docs, "Client Connection Defaults") so a
# long transaction holding the table fails the step instead of queueing
# every query of the app behind it; a column already nullable takes no lock.

#: how long the expand waits for its lock before it gives up (the deploy
#: then stops before the release, nothing changed)
LOCK_TIMEOUT = "5s"
#: the config var the expand reaches the database through (Heroku Postgres'
#: primary attachment; Dev Center, *Heroku Postgres*, "DATABASE_URL")
DATABASE_VAR = "DATABASE_URL"


def unsafe(verdicts: Iterable[Verdict]) -> tuple[Any, ...]:
    """The findings of ``after`` files that drop a column not proven safe
    for the gap (what :func:`resolve` left)."""
    return tuple(f for v in verdicts for f in v.findings
                 if v.kind == "after" and f.drops_column)


def why_not_expandable(finding: Any) -> str | None:
    """Why no SQL can be written to make this drop's column nullable (None:
    it can): the finding must name the database's table and column."""
    table, _, column = finding.drops_column.rpartition(".")
    if not getattr(finding, "db_names", True):
        return ("it is named by its model and field (Django's operation, read "
                "without the framework's SQL), not by its table and column")
    if not table or "?" in (table, column) or not column:
        return "its table or column is not known from the file"
    return None


def _ident(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def expand_sql(columns: Iterable[str]) -> str:
    """The SQL that makes each ``table.column`` nullable, in one transaction:
    a column already nullable is left alone (no lock); a table or column
    that is not there fails it (herotasks then cannot tell, and stops)."""
    body = []
    for item in columns:
        table, _, column = item.rpartition(".")
        body.append(
            f"  rel := to_regclass({_literal(_ident(table))});\n"
            f"  IF rel IS NULL THEN RAISE EXCEPTION 'herotasks expand: no table %', "
            f"{_literal(table)}; END IF;\n"
            "  required := NULL;\n"
            "  SELECT attnotnull INTO required FROM pg_attribute WHERE attrelid = rel\n"
            f"    AND attname = {_literal(column)} AND attnum > 0 AND NOT attisdropped;\n"
            "  IF required IS NULL THEN RAISE EXCEPTION 'herotasks expand: no column %', "
            f"{_literal(item)}; END IF;\n"
            "  IF required THEN\n"
            f"    ALTER TABLE {_ident(table)} ALTER COLUMN {_ident(column)} DROP NOT NULL;\n"
            f"    RAISE NOTICE 'herotasks expand: %: NOT NULL dropped', {_literal(item)};\n"
            "  ELSE\n"
            f"    RAISE NOTICE 'herotasks expand: %: already nullable', {_literal(item)};\n"
            "  END IF;\n")
    return (f"SET lock_timeout = {_literal(LOCK_TIMEOUT)};\n"
            "DO $herotasks$\nDECLARE\n  rel regclass;\n  required boolean;\nBEGIN\n"
            + "".join(body) + "END\n$herotasks$;\n")


#: runs in the one-off dyno (bash): psql (the stack's: Heroku-24's run image
#: installs postgresql-client-16, heroku/base-images heroku-24/setup.sh) on
#: $DATABASE_URL, its password moved to PGPASSWORD so that no argv in the
#: dyno shows it; the SQL comes in $HT_SQL, on psql's stdin
_SCRIPT = r'''
set -euo pipefail
url=${DATABASE_URL:-}
if [[ -z $url ]]; then echo "herotasks expand: no DATABASE_URL in the app's config" >&2; exit 3; fi
if [[ $url =~ ^([a-z]+://[^:/@]*):([^@]*)@(.*)$ ]]; then
  pw=${BASH_REMATCH[2]}
  export PGPASSWORD=$(printf '%b' "${pw//%/\\x}")
  url="${BASH_REMATCH[1]}@${BASH_REMATCH[3]}"
fi
printf '%s' "$HT_SQL" | psql -X -q -v ON_ERROR_STOP=1 -d "$url"
'''


def expand_command(columns: Iterable[str]) -> str:
    """The one-off dyno's command that runs :func:`expand_sql`."""
    import shlex

    return (f"HT_SQL={shlex.quote(expand_sql(columns))} "
            f"bash -c {shlex.quote(_SCRIPT)}")
