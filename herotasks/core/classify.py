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

Files are read, never imported or executed: Django migrations with :mod:`ast`,
Rails migrations line by line (no Ruby parser in the stdlib), SQL files with a
small splitter that knows comments, quotes and dollar quoting.

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
- Changing a column's default under running Rails code: Active Record caches
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
  a ``down``-only file, a ``reversible``/``change_table`` or any other block,
  and control flow are window ("not read").

A marker comment line ``herotasks: online`` or ``herotasks: window`` (``#`` in
Python and Ruby, ``--`` in SQL) beats the reading; ``migrations.mode`` beats
both except that a file marked window stays window under ``online``.
"""

from __future__ import annotations

import ast
import posixpath
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from herotasks.core.config import MIGRATION_MODES, PRESETS

ONLINE, WINDOW, IGNORED = "online", "window", "ignored"


@dataclass(frozen=True)
class Verdict:
    """One file's verdict, as ``deploy.plan`` shows it."""

    path: str  # the file, as git names it
    kind: str  # "online" | "window" | "ignored" (not a migration)
    reason: str  # short, human: "CreateModel, AddField(null=True)"


def classify(preset: str, path: str, text: str | None, *,
             mode: str = "auto") -> Verdict:
    """The verdict for one file of the diff.

    :param preset: ``rails``, ``django`` or ``custom`` (how to read the file).
    :param text: the new content; ``None`` when the diff deletes the file
        (window: a migration that vanished was run or is about to be missing).
    :param mode: ``herotasks.migrations.mode``.
    :raises ValueError: an unknown preset or mode (Settings validates both).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}")
    if mode not in MIGRATION_MODES:
        raise ValueError(f"unknown migrations mode {mode!r}")
    if _ignored(preset, path, deleted=text is None):
        return Verdict(path, IGNORED, "not a migration")
    if mode == "window":
        return Verdict(path, WINDOW, "migrations.mode: window")
    marker = _marker(path, text) if text is not None else None
    if marker is not None:
        kind, reason = marker
        if mode == "online" and kind == ONLINE:
            return Verdict(path, ONLINE, "migrations.mode: online")
        return Verdict(path, kind, reason)
    if mode == "online":
        return Verdict(path, ONLINE, "migrations.mode: online")
    if text is None:
        return Verdict(path, WINDOW, "deleted in the diff")
    kind, reason = _READERS[preset](path, text)
    return Verdict(path, kind, reason)


def classify_all(preset: str, files: Mapping[str, str | None], *,
                 mode: str = "auto") -> tuple[Verdict, ...]:
    """Verdicts for every file of the diff, in the order given."""
    return tuple(classify(preset, path, text, mode=mode)
                 for path, text in files.items())


def needs_window(verdicts: Iterable[Verdict]) -> bool:
    """True when any file needs the maintenance window."""
    return any(v.kind == WINDOW for v in verdicts)


# -- what is not a migration, and markers -------------------------------------

_RAILS_DUMPS = ("db/schema.rb", "db/structure.sql")
_PLACEHOLDERS = (".keep", ".gitkeep")


def _ignored(preset: str, path: str, *, deleted: bool) -> bool:
    name = posixpath.basename(path)
    if preset == "rails":
        # The dumps are regenerated from the migrations and never run.
        return path.endswith(_RAILS_DUMPS) or name in _PLACEHOLDERS
    if preset == "django":
        if name == "__init__.py":
            # Deleting it unmakes the migrations package: not harmless.
            return not deleted
        return not name.endswith(".py")
    return False


_MARKER_RE = {
    "#": re.compile(r"^\s*#\s*herotasks:\s*(\S*)", re.IGNORECASE | re.MULTILINE),
    "--": re.compile(r"^\s*--\s*herotasks:\s*(\S*)", re.IGNORECASE | re.MULTILINE),
}


def _marker(path: str, text: str) -> tuple[str, str] | None:
    """The marker's verdict, or None without one. Of several markers the
    most cautious wins: one ``window`` or unknown value makes the file window."""
    if path.endswith((".py", ".rb")):
        styles = ("#",)
    elif path.endswith(".sql"):
        styles = ("--",)
    else:
        styles = ("#", "--")
    if path.endswith(".rb"):
        text = _without_heredocs(text)  # a heredoc's lines are data, not comments
    values = [m.group(1) for style in styles for m in _MARKER_RE[style].finditer(text)]
    if not values:
        return None
    for value in values:
        if value.lower() not in (ONLINE, WINDOW):
            return WINDOW, (f"unknown marker 'herotasks: {value}' "
                            "(use herotasks: online or herotasks: window)")
    if any(value.lower() == WINDOW for value in values):
        return WINDOW, "marker: herotasks: window"
    return ONLINE, "marker: herotasks: online"


def _without_heredocs(text: str) -> str:
    """Ruby source with heredoc bodies dropped: ``# herotasks: online`` inside
    ``execute <<~SQL ... SQL`` is SQL text, not the author's marker."""
    kept: list[str] = []
    heredoc: str | None = None
    for line in text.splitlines():
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        kept.append(line)
        match = _HEREDOC_RE.search(_ruby_scan(line)[0])
        if match:
            heredoc = match.group(2)
    return "\n".join(kept)


class _Findings:
    """Online operations (for the reason) and window ones (which decide)."""

    def __init__(self) -> None:
        self.online: list[str] = []
        self.window: list[str] = []

    def ok(self, what: str) -> None:
        if what not in self.online:
            self.online.append(what)

    def bad(self, what: str, line: int, why: str = "") -> None:
        self.window.append(f"{what} on line {line}" + (f" ({why})" if why else ""))

    def verdict(self, empty: str) -> tuple[str, str]:
        if self.window:
            return WINDOW, "; ".join(self.window)
        return ONLINE, ", ".join(self.online) or empty


# -- Django --------------------------------------------------------------------

_DJANGO_ONLINE = {
    "CreateModel", "AlterModelOptions", "AlterModelManagers",
    "CreateExtension", "BloomExtension", "BtreeGinExtension", "BtreeGistExtension",
    "CITextExtension", "CryptoExtension", "HStoreExtension", "TrigramExtension",
    "UnaccentExtension",
}
_DJANGO_CONCURRENT = {"AddIndexConcurrently", "RemoveIndexConcurrently"}
_DJANGO_WHY = {
    "AddIndex": "a plain CREATE INDEX locks writes; use AddIndexConcurrently",
    "RemoveIndex": "a plain DROP INDEX locks the table; use RemoveIndexConcurrently",
    "RunPython": "unknown effect",
    "RunSQL": "unknown effect",
    "AlterUniqueTogether": "builds a unique index under lock",
    "AlterIndexTogether": "builds an index under lock",
    "AddConstraint": "validates the table under lock",
}
_FK_FIELDS = {"ForeignKey", "OneToOneField", "ForeignObject"}


def _read_django(path: str, text: str) -> tuple[str, str]:
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as err:
        line = getattr(err, "lineno", None)
        return WINDOW, "does not parse" + (f" (line {line})" if line else "")
    migration = next((node for node in tree.body if isinstance(node, ast.ClassDef)
                      and node.name == "Migration"), None)
    if migration is None:
        return WINDOW, "no Migration class"
    atomic = True
    operations: ast.expr | None = None
    for node in migration.body:
        target, value = _assignment(node)
        if target == "atomic":
            atomic = not (isinstance(value, ast.Constant) and value.value is False)
        elif target == "operations":
            operations = value
    if operations is None:
        return WINDOW, "Migration has no operations list"
    found = _Findings()
    _django_ops(operations, found, atomic=atomic)
    return found.verdict("no operations")


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
            node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _name(node: ast.expr) -> str | None:
    """``X`` for ``X``, ``migrations.X`` and ``a.b.X``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _arg(call: ast.Call, keyword: str, position: int) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[position] if len(call.args) > position else None


def _django_ops(operations: ast.expr, found: _Findings, *, atomic: bool) -> None:
    if not isinstance(operations, (ast.List, ast.Tuple)):
        found.bad("operations", operations.lineno, "not a list literal: not read")
        return
    for op in operations.elts:
        name = _name(op.func) if isinstance(op, ast.Call) else None
        if not isinstance(op, ast.Call) or name is None:
            found.bad("an operation", op.lineno, "not a call: not read")
        elif name == "SeparateDatabaseAndState":
            db_ops = _arg(op, "database_operations", 0)
            if db_ops is None or _is(db_ops, None) or (
                    isinstance(db_ops, (ast.List, ast.Tuple)) and not db_ops.elts):
                found.ok("SeparateDatabaseAndState(state only)")
            else:
                _django_ops(db_ops, found, atomic=atomic)
        elif name == "AddField":
            _django_add_field(op, found)
        elif name in _DJANGO_CONCURRENT:
            if atomic:
                found.bad(name, op.lineno, "needs atomic = False on the Migration")
            else:
                found.ok(name)
        elif name in _DJANGO_ONLINE:
            found.ok(name)
        else:
            found.bad(name, op.lineno, _DJANGO_WHY.get(name, ""))


def _kwarg(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _is(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _django_add_field(op: ast.Call, found: _Findings) -> None:
    field = _arg(op, "field", 2)
    kind = _name(field.func) if isinstance(field, ast.Call) else None
    if not isinstance(field, ast.Call) or kind is None:
        found.bad("AddField", op.lineno, "field not read")
        return
    if kind == "ManyToManyField":
        found.ok("AddField(ManyToManyField)")  # a join table, no column
        return
    if kind in _FK_FIELDS and not (_is(_kwarg(field, "db_index"), False)
                                   and _is(_kwarg(field, "db_constraint"), False)):
        found.bad(f"AddField({kind})", op.lineno,
                  "builds an index and a validated foreign key under lock")
        return
    for key in ("unique", "db_index", "primary_key"):
        if _is(_kwarg(field, key), True):
            found.bad(f"AddField({key}=True)", op.lineno, "builds an index under lock")
            return
    db_default = _kwarg(field, "db_default")
    if db_default is not None and not _is(db_default, None):
        if _volatile_db_default(db_default):
            found.bad("AddField(db_default)", op.lineno,
                      "an expression default may rewrite the table")
        else:
            found.ok("AddField(db_default)")
    elif _is(_kwarg(field, "null"), True):
        found.ok("AddField(null=True)")
    elif _kwarg(field, "default") is not None:
        found.bad("AddField", op.lineno,
                  "NOT NULL with a Python-side default only; use db_default")
    else:
        found.bad("AddField", op.lineno, "NOT NULL without db_default")


def _volatile_db_default(node: ast.expr) -> bool:
    """A constant or ``Now()`` (stable: PostgreSQL 11+ adds it without a
    rewrite); any other expression might be volatile (``RandomUUID()``)."""
    if isinstance(node, ast.Constant):
        return False
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return False  # -1
    if isinstance(node, ast.Call) and _name(node.func) == "Now" and not node.args:
        return False
    if isinstance(node, ast.Call) and _name(node.func) == "Value" and all(
            isinstance(a, ast.Constant) for a in node.args):
        return False
    return True


# -- Rails ---------------------------------------------------------------------

@dataclass
class _Stmt:
    line: int
    text: str
    block: bool  # opens a do ... end block (its body is not kept)
    several: bool = False  # `a; b`: more than one statement on the line


_OPENERS = {"def", "class", "module", "if", "unless", "while", "until", "case",
            "begin", "for"}
_DO_RE = re.compile(r"\bdo(\s*\|[^|]*\|)?$")
_HEREDOC_RE = re.compile(r"<<[~-]?(['\"]?)([A-Za-z_]\w*)\1")
_CALL_RE = re.compile(r"^([a-z_]\w*[!?]?)\s*\(?\s*(.*?)\)?$", re.DOTALL)
_DEF_RE = re.compile(r"^def\s+(?:self\.)?(\w+)")
_RAILS_WINDOW_WHY = {
    "change_column_default": "old code keeps writing its cached default",
    "execute": "unknown effect",
    "change_table": "block not read",
    "reversible": "block not read",
}


def _ruby_scan(line: str) -> tuple[str, str]:
    """The line without its comment (``#`` outside quotes), and the same with
    the strings' contents blanked: brackets and ``;`` count only outside them."""
    quote = None
    escaped = False
    bare: list[str] = []
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
            continue
        if ch == "\\":
            escaped = True
        elif quote:
            if ch == quote:
                quote = None
                bare.append(ch)
            continue
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i].rstrip(), "".join(bare).rstrip()
        bare.append(ch)
    return line.rstrip(), "".join(bare).rstrip()


def _ruby_lines(text: str) -> list[tuple[int, str, bool]]:
    """Logical lines: comments and heredoc bodies dropped, a call continued
    over several lines (open brackets, a trailing comma or backslash) joined;
    with each, whether it holds a ``;`` (several statements) outside strings."""
    out: list[tuple[int, str, bool]] = []
    pending: tuple[int, str, str] | None = None
    heredoc: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if heredoc is not None:
            if raw.strip() == heredoc:
                heredoc = None
            continue
        code, bare = (part.strip() for part in _ruby_scan(raw))
        if not code or code.startswith("=begin"):
            continue
        match = _HEREDOC_RE.search(code)
        if match:
            heredoc = match.group(2)
        start, joined, joined_bare = pending if pending else (number, "", "")
        joined = f"{joined} {code}".strip()
        joined_bare = f"{joined_bare} {bare}".strip()
        balance = (sum(map(joined_bare.count, "([{"))
                   - sum(map(joined_bare.count, ")]}")))
        if balance > 0 or joined.endswith((",", "\\")):
            pending = (start, joined.rstrip("\\"), joined_bare.rstrip("\\"))
        else:
            out.append((start, joined, ";" in joined_bare))
            pending = None
    if pending:
        out.append((pending[0], pending[1], ";" in pending[2]))
    return out


def _ruby_methods(text: str) -> tuple[dict[str, list[_Stmt]], bool, bool]:
    """The methods' top-level statements, whether the class disables the DDL
    transaction, and whether the do/end nesting balanced (else: not read)."""
    methods: dict[str, list[_Stmt]] = {}
    depth = 0
    current: str | None = None
    method_depth = 0
    no_transaction = False
    for line, code, several in _ruby_lines(text):
        word = re.split(r"[\s(;]", code, maxsplit=1)[0]
        if code == "disable_ddl_transaction!":
            no_transaction = True
        if word == "end" or code.startswith("end."):
            depth -= 1
            if current is not None and depth < method_depth:
                current = None
            if depth < 0:
                return methods, no_transaction, False
            continue
        opens = word in _OPENERS or bool(_DO_RE.search(code))
        if word == "def" and code.rstrip(";").endswith("end"):
            opens = False  # def up; end
        if current is not None and depth == method_depth:
            methods[current].append(_Stmt(line, code, block=opens, several=several))
        elif word == "def" and current is None:
            match = _DEF_RE.match(code)
            if match and opens:
                current = match.group(1)
                methods[current] = []
                method_depth = depth + 1
        if opens:
            depth += 1
    return methods, no_transaction, depth == 0


def _opt(args: str, key: str) -> str | None:
    """The value text of ``key: value`` / ``:key => value`` in an argument list."""
    match = re.search(rf"(?:\b{key}:|:{key}\s*=>)\s*(\{{[^}}]*\}}|[^,)}}]+)", args)
    return match.group(1).strip() if match else None


def _default(args: str) -> str | None:
    """The ``default:`` option; ``default: nil`` is no default at all."""
    value = _opt(args, "default")
    return None if value == "nil" else value


def _concurrent(value: str | None) -> bool:
    return bool(value) and bool(re.fullmatch(r"""[:'"]?concurrently['"]?""", value))


def _read_rails(path: str, text: str) -> tuple[str, str]:
    if not path.endswith(".rb"):
        return WINDOW, "not a Ruby migration: not read"
    if not re.search(r"^\s*class\s+\w+\s*<\s*ActiveRecord::Migration", text, re.M):
        return WINDOW, "no ActiveRecord::Migration class"
    methods, no_transaction, balanced = _ruby_methods(text)
    if not balanced:
        return WINDOW, "could not follow the do/end nesting: not read"
    body = methods.get("up", methods.get("change"))
    if body is None:
        return WINDOW, "no change or up method: not read"
    found = _Findings()
    for stmt in body:
        _rails_stmt(stmt, found, no_transaction)
    return found.verdict("no operations")


def _rails_stmt(stmt: _Stmt, found: _Findings, no_transaction: bool) -> None:
    inner = re.fullmatch(r"safety_assured\s*\{\s*(.*?)\s*\}", stmt.text)
    if inner:  # strong_migrations' wrapper says nothing about the old code
        stmt = _Stmt(stmt.line, inner.group(1), stmt.block, stmt.several)
    match = _CALL_RE.match(stmt.text)
    name, args = (match.group(1), match.group(2)) if match else (stmt.text, "")
    line = stmt.line
    if stmt.several:
        found.bad(name.split()[0][:40], line, "several statements on a line: not read")
    elif name in ("create_table", "create_join_table"):
        if _opt(args, "force") not in (None, "false"):
            found.bad(name, line, "force: drops an existing table")
        else:
            found.ok(name)
    elif stmt.block:
        found.bad(name, line, "block not read")
    elif name == "add_column":
        default = _default(args)
        if default and re.match(r"->|lambda\b|proc\b", default):
            found.bad(name, line, "an SQL expression default may rewrite the table")
        elif _opt(args, "null") == "false" and default is None:
            found.bad(name, line, "null: false without a default")
        else:
            found.ok(name)
    elif name in ("add_index", "remove_index"):
        if not _concurrent(_opt(args, "algorithm")):
            found.bad(name, line, "without algorithm: :concurrently it locks the table")
        elif not no_transaction:
            found.bad(name, line, "algorithm: :concurrently needs "
                      "disable_ddl_transaction!")
        else:
            found.ok(f"{name}(concurrently)")
    elif name in ("add_reference", "add_belongs_to"):
        _rails_reference(name, args, line, found, no_transaction)
    elif name == "add_timestamps":
        if _opt(args, "null") == "true":
            found.ok(name)
        else:
            found.bad(name, line, "NOT NULL without a default unless null: true")
    elif name in ("add_foreign_key", "add_check_constraint"):
        if _opt(args, "validate") == "false":
            found.ok(f"{name}(validate: false)")
        else:
            found.bad(name, line, "validates the table under lock; "
                      "use validate: false")
    elif name in ("validate_foreign_key", "validate_check_constraint"):
        found.ok(name)  # SHARE UPDATE EXCLUSIVE: reads and writes go on
    else:
        found.bad(name.split()[0][:40], line,
                  _RAILS_WINDOW_WHY.get(name, ""))


def _rails_reference(name: str, args: str, line: int, found: _Findings,
                     no_transaction: bool) -> None:
    index = _opt(args, "index")
    foreign_key = _opt(args, "foreign_key")
    if _opt(args, "null") == "false" and _default(args) is None:
        found.bad(name, line, "null: false without a default")
    elif foreign_key not in (None, "false"):
        found.bad(name, line, "adds a validated foreign key under lock")
    elif index == "false":
        found.ok(f"{name}(index: false)")
    elif index and index.startswith("{") and _concurrent(_opt(index, "algorithm")):
        if no_transaction:
            found.ok(f"{name}(concurrent index)")
        else:
            found.bad(name, line, "algorithm: :concurrently needs "
                      "disable_ddl_transaction!")
    else:
        found.bad(name, line, "builds its index under lock; use index: false or "
                  "index: {algorithm: :concurrently}")


# -- SQL -----------------------------------------------------------------------

class _Unterminated(ValueError):
    """A quote or comment that never ends: what follows it cannot be read."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _sql_statements(text: str) -> list[tuple[int, str]]:
    """Statements (without comments) and the line each starts on.

    Knows ``--`` and ``/* */`` comments, '' and "" quoting (backslash escapes
    in ``E'...'``) and dollar quoting, so a ``;`` inside any of them does not
    end a statement.

    :raises _Unterminated: a quote or block comment left open, which would
        hide every statement after it.
    """
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = None
    line = 1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise _Unterminated(line)
            line += text.count("\n", i, end)
            i = end + 2
            buf.append(" ")
            continue
        if ch in "'\"":
            escapes = ch == "'" and i > 0 and text[i - 1] in "Ee"
            end = i + 1
            while end < n:
                if (escapes and text[end] == "\\") or text.startswith(ch * 2, end):
                    end += 2  # \' in E'...', or '' / "" doubled
                elif text[end] == ch:
                    break
                else:
                    end += 1
            if end >= n:
                raise _Unterminated(line)
            chunk = text[i:end + 1]
        elif ch == "$" and (m := re.match(r"\$(\w*)\$", text[i:])):
            tag = m.group(0)
            end = text.find(tag, i + len(tag))
            if end < 0:
                raise _Unterminated(line)
            chunk = text[i:end + len(tag)]
        elif ch == ";":
            if start is not None:
                out.append((start, " ".join("".join(buf).split())))
            buf, start = [], None
            i += 1
            continue
        else:
            chunk = ch
        if start is None and not chunk.isspace():
            start = line
        buf.append(chunk)
        line += chunk.count("\n")
        i += len(chunk)
    if start is not None and "".join(buf).strip():
        out.append((start, " ".join("".join(buf).split())))
    return out


_SQL_NEUTRAL = re.compile(r"^(BEGIN|COMMIT|END|START TRANSACTION|SET|RESET)\b")
_SQL_ONLINE = [
    (re.compile(r"^CREATE (UNLOGGED |TEMP |TEMPORARY )?TABLE\b(?!.*\bPARTITION OF\b)"),
     "CREATE TABLE"),
    (re.compile(r"^CREATE (UNIQUE )?INDEX CONCURRENTLY\b"),
     "CREATE INDEX CONCURRENTLY"),
    (re.compile(r"^DROP INDEX CONCURRENTLY\b"), "DROP INDEX CONCURRENTLY"),
    (re.compile(r"^CREATE SEQUENCE\b"), "CREATE SEQUENCE"),
    (re.compile(r"^CREATE TYPE\b"), "CREATE TYPE"),
    (re.compile(r"^CREATE EXTENSION\b"), "CREATE EXTENSION"),
    (re.compile(r"^CREATE SCHEMA\b"), "CREATE SCHEMA"),
    (re.compile(r"^CREATE (MATERIALIZED )?VIEW\b"), "CREATE VIEW"),
]
_SQL_WHY = {
    "CREATE INDEX": "without CONCURRENTLY it locks writes",
    "UPDATE": "data change", "DELETE": "data change", "INSERT": "data change",
}
_ALTER_RE = re.compile(r"^ALTER TABLE (IF EXISTS )?(ONLY )?(\"[^\"]+\"|[\w.]+) (.*)$",
                       re.DOTALL)


def _read_sql(path: str, text: str) -> tuple[str, str]:
    if not path.endswith(".sql"):
        return WINDOW, "not an SQL file: not read (mark it to say)"
    try:
        statements = _sql_statements(text)
    except _Unterminated as err:
        return WINDOW, f"a quote or comment opened on line {err.line} never ends"
    found = _Findings()
    for line, stmt in statements:
        upper = stmt.upper()
        if _SQL_NEUTRAL.match(upper):
            continue
        for pattern, label in _SQL_ONLINE:
            if pattern.match(upper):
                found.ok(label)
                break
        else:
            alter = _ALTER_RE.match(upper)
            if alter:
                _sql_alter(alter.group(4), line, found)
            else:
                label = _sql_label(upper)
                found.bad(label, line, _SQL_WHY.get(label, ""))
    return found.verdict("no statements")


def _sql_label(upper: str) -> str:
    """``DROP TABLE``, ``CREATE OR REPLACE VIEW``, ``UPDATE``: what a window
    statement is, in a word or two."""
    words = re.sub(r"^CREATE UNIQUE INDEX", "CREATE INDEX", upper).split()
    if words[0] in ("UPDATE", "DELETE", "INSERT"):
        return words[0]
    return " ".join(words[:4 if words[1:3] == ["OR", "REPLACE"] else 2])


def _split_top(text: str) -> list[str]:
    """Comma-separated parts, not splitting inside parentheses or quotes."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _sql_alter(actions: str, line: int, found: _Findings) -> None:
    for action in _split_top(actions):
        words = action.split()
        what = "ALTER TABLE " + " ".join(words[:2])
        if re.match(r"VALIDATE CONSTRAINT\b", action):
            found.ok("VALIDATE CONSTRAINT")
        elif re.match(r"ADD (CONSTRAINT \S+ )?(FOREIGN KEY|CHECK)\b", action):
            if action.endswith("NOT VALID"):
                found.ok("ADD CONSTRAINT NOT VALID")
            else:
                found.bad(what, line, "validates the table under lock; add NOT VALID")
        elif re.match(r"ADD (CONSTRAINT|PRIMARY|UNIQUE|EXCLUDE|FOREIGN|CHECK)\b",
                      action):
            found.bad(what, line, "builds an index or validates under lock")
        elif action.startswith("ADD "):
            why = _sql_column_why(action)
            if why:
                found.bad("ALTER TABLE ADD COLUMN", line, why)
            else:
                found.ok("ALTER TABLE ADD COLUMN")
        else:
            found.bad(what, line)


def _sql_column_why(action: str) -> str:
    """Why ``ADD [COLUMN] name type ...`` needs the window ('' if it does not)."""
    definition = re.sub(r"^ADD (COLUMN )?(IF NOT EXISTS )?", "", action)
    words = definition.split()
    if len(words) < 2:
        return "not read"
    if words[1] in ("SERIAL", "BIGSERIAL", "SMALLSERIAL") or re.search(
            r"\bGENERATED\b", definition):
        return "a generated value rewrites the table"
    if re.search(r"\b(PRIMARY KEY|UNIQUE|REFERENCES|CHECK)\b", definition):
        return "builds an index or validates under lock"
    default = re.search(r"\bDEFAULT (.*?)(?= NOT NULL| NULL| CONSTRAINT|$)", definition)
    if default and "(" in default.group(1) and not re.fullmatch(
            r"NOW\(\)|'[^']*'::\w+(\(\d+\))?", default.group(1).strip()):
        return "an expression default may rewrite the table"
    if re.search(r"\bNOT NULL\b", definition) and not default:
        return "NOT NULL without a DEFAULT"
    return ""


_READERS = {"django": _read_django, "rails": _read_rails, "custom": _read_sql}
