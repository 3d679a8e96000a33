"""Alembic revisions (Flask, FastAPI), read statically with :mod:`ast`.

The ``upgrade()`` function's ``op.*`` calls are read as the SQL Alembic's
PostgreSQL implementation emits for them (``alembic/ddl/postgresql.py``,
``alembic/operations/ops.py``); each revision runs in a transaction
(``transaction_per_migration`` or one for the whole run) except inside
``with op.get_context().autocommit_block():``. The lock rules are the SQL
reader's (:mod:`.sql`):

- ``op.create_table``: online; an index, a constraint or ``bulk_insert`` on a
  table created in the same revision: online (DZ in :mod:`.sql`).
- ``op.add_column(t, sa.Column(...))``: online when nullable (SQLAlchemy's
  default) or with a constant ``server_default``; ``nullable=False`` without
  one, ``index=True``/``unique=True``/``primary_key=True``, a
  ``sa.ForeignKey``, ``sa.Computed`` (a stored generated column),
  ``sa.Identity`` or a ``server_default=sa.text(...)`` other than now() /
  CURRENT_TIMESTAMP: window.
- ``op.create_index``/``op.drop_index``: online only with
  ``postgresql_concurrently=True`` inside ``autocommit_block()``.
- ``op.create_foreign_key``/``op.create_check_constraint``: online only with
  ``postgresql_not_valid=True``.
- ``op.alter_column``: online when it only sets ``nullable=True`` (DROP NOT
  NULL), ``server_default`` or a comment; anything else window.
- ``op.execute("...")`` / ``op.execute(sa.text("..."))``: the SQL reader.
- ``with op.batch_alter_table(t) as b:`` is plain ALTER TABLE on PostgreSQL:
  ``b.*`` calls are read as ``op.*`` on ``t``.
- Anything else (``op.get_bind()``, a loop, an ``if``): window.
"""

from __future__ import annotations

import ast
import re

from herotasks.core.classify.common import WINDOW, Findings

READ = "Alembic operations, read statically"
READ_SQL = "SQL from Alembic (upgrade --sql, offline), PostgreSQL's grammar"

_ADDS = {"create_sequence", "create_table_comment"}
_STABLE_DEFAULT = re.compile(r"\s*(now\(\)|current_timestamp|current_date|"
                             r"statement_timestamp\(\)|transaction_timestamp\(\))\s*",
                             re.IGNORECASE)
#: removals the new code no longer needs: after the release (issue 16); the
#: value is the position of the table argument
_CONTRACT = {"drop_column": 0, "drop_table": 0, "drop_constraint": 1,
             "drop_table_comment": 0}
_CONSTRAINTS = {"create_foreign_key", "create_check_constraint",
                "create_unique_constraint", "create_primary_key"}
_ALTER_SAFE = {"nullable", "server_default", "comment", "existing_type",
               "existing_nullable", "existing_server_default", "existing_comment",
               "schema"}


def read(path: str, text: str) -> tuple[str, str, Findings]:
    """(kind, reason, findings) for an Alembic revision file."""
    found = Findings()
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as err:
        line = getattr(err, "lineno", None) or 0
        found.bad("Python", line, "does not parse")
        return WINDOW, "does not parse" + (f" (line {line})" if line else ""), found
    upgrade = next((n for n in tree.body if isinstance(n, ast.FunctionDef)
                    and n.name == "upgrade"), None)
    if upgrade is None:
        found.bad("revision", 1, "no upgrade() function")
        return WINDOW, "no upgrade() function", found
    _Reader(found).body(upgrade.body, None, transactional=True)
    kind, reason = found.verdict("no operations")
    return kind, reason, found


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _str(node: ast.expr | None) -> str | None:
    """A string literal, or the literal inside ``sa.text("...")``."""
    if isinstance(node, ast.Call) and _name(node.func) in ("text", "literal_column") \
            and node.args:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


class _Reader:
    def __init__(self, found: Findings) -> None:
        self.found = found
        self.created: set[str] = set()

    def body(self, stmts: list[ast.stmt], batch: tuple[str, str] | None, *,
             transactional: bool) -> None:
        for stmt in stmts:
            if isinstance(stmt, ast.Pass) or (
                    isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
                continue
            if isinstance(stmt, ast.With) and len(stmt.items) == 1:
                self.with_(stmt, batch, transactional=transactional)
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                self.call(stmt.value, batch, transactional=transactional)
            else:
                self.found.bad(type(stmt).__name__, stmt.lineno,
                               "not an op call: unknown effect")

    def with_(self, stmt: ast.With, batch: tuple[str, str] | None, *,
              transactional: bool) -> None:
        ctx = stmt.items[0].context_expr
        name = _name(ctx.func) if isinstance(ctx, ast.Call) else None
        var = stmt.items[0].optional_vars
        if name == "autocommit_block":
            self.body(stmt.body, batch, transactional=False)
        elif name == "batch_alter_table" and isinstance(var, ast.Name) and ctx.args \
                and _str(ctx.args[0]) is not None:
            self.body(stmt.body, (var.id, _str(ctx.args[0]) or ""),
                      transactional=transactional)
        else:
            self.found.bad(f"with {name or '...'}", stmt.lineno, "not read")

    def call(self, call: ast.Call, batch: tuple[str, str] | None, *,
             transactional: bool) -> None:
        found, line = self.found, call.lineno
        func = call.func
        owner = _name(func.value) if isinstance(func, ast.Attribute) else None
        name = _name(func) or "call"
        args = list(call.args)
        in_batch = batch is not None and owner == batch[0]
        if not in_batch and owner != "op":
            found.bad(f"{owner + '.' if owner else ''}{name}", line, "unknown effect")
            return
        what = f"op.{name}"
        if name == "create_table":
            self.created.add((_str(args[0]) if args else None) or "")
            found.ok(what, line)
        elif name in _ADDS:
            found.ok(what, line)
        elif name == "add_column":
            # b.add_column(column) is op.add_column(table, column)
            column = args[0 if in_batch else 1] if len(args) > (0 if in_batch else 1) \
                else _kw(call, "column")
            self.add_column(column, line)
        elif name in _CONTRACT:
            table = (batch[1] if in_batch and batch is not None
                     else _str(args[_CONTRACT[name]]) if len(args) > _CONTRACT[name]
                     else None)
            column = (_str(args[-1 if in_batch else 1]) if name == "drop_column"
                      and len(args) > (0 if in_batch else 1) else None)
            found.after(what, line, "the old code may still use it: after the "
                        "release (CONTRACT)",
                        column=f"{table or '?'}.{column or '?'}"
                        if name == "drop_column" else "")
        elif name == "drop_index" and not _true(_kw(call, "postgresql_concurrently")):
            found.after(what, line, "the old code may still use it: after the "
                        "release (CONTRACT)")
        elif name in ("create_index", "drop_index"):
            if in_batch and batch is not None:
                index_table: str | None = batch[1]
            else:
                index_table = (_str(args[1]) if len(args) > 1
                               else _str(_kw(call, "table_name")))
            if _true(_kw(call, "postgresql_concurrently")):
                if transactional:
                    found.bad(what, line, "postgresql_concurrently needs "
                              "op.get_context().autocommit_block()")
                else:
                    found.ok(f"{what}(concurrently)", line)
            elif name == "create_index" and index_table in self.created:
                found.ok(f"{what} (new table)", line)
            else:
                found.bad(what, line, "without postgresql_concurrently it locks "
                          "the table (PG-INDEX)")
        elif name in _CONSTRAINTS and self._on_new_table(call, args, in_batch, batch):
            found.ok(f"{what} (new table)", line)
        elif name in ("create_foreign_key", "create_check_constraint"):
            if _true(_kw(call, "postgresql_not_valid")):
                found.ok(f"{what}(not valid)", line)
            else:
                found.bad(what, line, "validates every row under lock; use "
                          "postgresql_not_valid=True (PG-ALTER, SM)")
        elif name == "alter_column":
            self.alter_column(call, what, line)
        elif name == "bulk_insert":
            target = args[0] if args else None
            into = (_str(target.args[0]) if isinstance(target, ast.Call)
                    and target.args else None)
            if into is not None and into in self.created:
                found.ok(f"{what} (new table)", line)
            else:
                found.bad(what, line, "data change")
        elif name == "execute":
            text = _str(args[0]) if args else None
            if text is None:
                found.bad(what, line, "SQL not written as a literal: unknown effect")
                return
            from herotasks.core.classify import sql  # pglast: loaded only when there is SQL
            inner = sql.findings(text, transactional=transactional)
            if not inner.items:
                found.ok("op.execute(no statements)", line)
            found.extend(inner, offset=args[0].lineno - 1, prefix="op.execute: ")
        else:
            found.bad(what, line, "")

    def _on_new_table(self, call: ast.Call, args: list[ast.expr], in_batch: bool,
                      batch: tuple[str, str] | None) -> bool:
        """The constraint's table (second argument, or the batch's) was
        created earlier in this revision."""
        if in_batch and batch is not None:
            table = batch[1]
        else:
            table = _str(args[1]) if len(args) > 1 else _str(
                _kw(call, "source_table") or _kw(call, "table_name"))
        return table is not None and table in self.created

    def add_column(self, column: ast.expr | None, line: int) -> None:
        found = self.found
        if not (isinstance(column, ast.Call) and _name(column.func) == "Column"):
            found.bad("op.add_column", line, "column not read")
            return
        parts = [_name(a.func) for a in column.args if isinstance(a, ast.Call)]
        if "ForeignKey" in parts:
            found.bad("op.add_column", line, "adds a validated foreign key under lock")
        elif "Computed" in parts:
            found.bad("op.add_column", line, "a stored generated column rewrites the "
                      "table (PG-ALTER)")
        elif "Identity" in parts:
            found.bad("op.add_column", line, "an identity column rewrites the table "
                      "(PG-ALTER)")
        elif any(_true(_kw(column, k)) for k in ("index", "unique", "primary_key")):
            found.bad("op.add_column", line, "builds an index under lock (PG-INDEX)")
        else:
            default = _kw(column, "server_default")
            nullable = _kw(column, "nullable")
            if default is not None and not (isinstance(default, ast.Constant)
                                            and default.value is None):
                text = _str(default)
                constant = isinstance(default, ast.Constant) or (
                    text is not None and (_STABLE_DEFAULT.fullmatch(text) or re.fullmatch(
                        r"\s*('[^']*'(::\w+)?|-?\d+(\.\d+)?|true|false)\s*", text,
                        re.IGNORECASE)))
                if constant:
                    found.ok("op.add_column(server_default)", line)
                else:
                    found.bad("op.add_column", line, "a server_default that may be "
                              "volatile rewrites the table (PG-ALTER)")
            elif isinstance(nullable, ast.Constant) and nullable.value is False:
                found.bad("op.add_column", line, "nullable=False without a "
                          "server_default: the old code's INSERTs fail")
            else:
                found.ok("op.add_column(nullable)", line)

    def alter_column(self, call: ast.Call, what: str, line: int) -> None:
        keys = {k.arg for k in call.keywords}
        nullable = _kw(call, "nullable")
        if not keys - _ALTER_SAFE and not (
                isinstance(nullable, ast.Constant) and nullable.value is False):
            found_what = ("op.alter_column(nullable=True)" if nullable is not None
                          else "op.alter_column(server_default)")
            self.found.ok(found_what, line)
        elif isinstance(nullable, ast.Constant) and nullable.value is False:
            self.found.bad(what, line, "SET NOT NULL scans the table under ACCESS "
                           "EXCLUSIVE (PG-ALTER, SM)")
        else:
            bad = sorted(keys - _ALTER_SAFE)
            self.found.bad(what, line, f"{', '.join(bad)}: the old code uses the "
                           "column as it was (PG-ALTER, SM)")


def from_sql(path: str, text: str, data: dict) -> tuple[str, str, Findings]:
    """(kind, reason, findings) from ``alembic upgrade --sql``'s output (its
    own BEGIN/COMMIT and alembic_version bookkeeping left out of the verdict;
    the lines are the printed SQL's)."""
    from herotasks.core.classify import sql  # pglast: loaded only when there is SQL
    found = sql.findings(data.get("sql") or "", skip_tables=frozenset({"alembic_version"}))
    kind, reason = found.verdict("no statements")
    return kind, reason, found
