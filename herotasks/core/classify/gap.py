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
