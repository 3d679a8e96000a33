"""Rails migrations, read line by line (no Ruby parser in the stdlib).

Rails has no SQL dump of a migration short of running it, so the Ruby is
read: the ``up`` method when there is one, else ``change``, and inside it the
blocks whose effect is known:

- ``reversible do |dir|``: what ``dir.up`` runs (``dir.down`` never runs on
  the way up); ``up_only``: its body.
- ``change_table :t do |t|``: each ``t.string``/``t.references``/``t.index``
  ... read as the ``add_column``/``add_reference``/``add_index`` it is
  (Rails' ``ConnectionAdapters::Table``); ``t.remove``, ``t.rename``,
  ``t.change`` ... are window like their top-level forms.
- ``safety_assured { }`` / ``do ... end`` (strong_migrations): its body is
  read; the wrapper only silences strong_migrations, it says nothing about
  the old code.
- ``if``/``unless`` blocks and ``... if cond`` modifiers: every branch is
  read as if it ran (the condition is unknown here); ``return`` guards only
  skip work.
- ``execute`` with its SQL as a string literal or heredoc: read with the SQL
  reader (in a transaction unless ``disable_ddl_transaction!``).

Column rules beyond the module docstring of :mod:`herotasks.core.classify`:
``:bigserial``/``:serial`` columns and stored virtual columns (``as:
"...", stored: true``) rewrite the table (strong_migrations, "Checks");
``default: "gen_random_uuid()"`` on a ``:uuid`` column is passed to
PostgreSQL as a function call (Active Record's PostgreSQL
``quote_default_expression``), so it is volatile and rewrites the table, like
``default: -> { "gen_random_uuid()" }``; ``-> { "now()" }`` and
``-> { "CURRENT_TIMESTAMP" }`` are stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from herotasks.core.classify.common import WINDOW, Findings

READ = "Ruby, read statically"


@dataclass
class _Stmt:
    line: int
    text: str
    block: bool  # opens a do ... end block (its statements are in body)
    several: bool = False  # `a; b`: more than one statement on the line
    body: list["_Stmt"] = field(default_factory=list)
    #: a heredoc the statement opens: (line of its first body line, text)
    heredoc: tuple[int, str] | None = None


_OPENERS = {"def", "class", "module", "if", "unless", "while", "until", "case",
            "begin", "for"}
_DO_RE = re.compile(r"\bdo(\s*\|[^|]*\|)?$")
_HEREDOC_RE = re.compile(r"<<[~-]?(['\"]?)([A-Za-z_]\w*)\1")
_CALL_RE = re.compile(r"^([a-z_]\w*[!?]?)\s*\(?\s*(.*?)\)?$", re.DOTALL)
_DEF_RE = re.compile(r"^def\s+(?:self\.)?(\w+)")
_INLINE_BLOCK_RE = re.compile(r"^([a-z_][\w.]*)\s*(?:\(([^)]*)\))?\s*\{\s*(?:\|[^|]*\|)?"
                              r"\s*(.*?)\s*\}$", re.DOTALL)
_MODIFIER_RE = re.compile(r"\s+(?:if|unless)\s+[^'\"]*$")
_WINDOW_WHY = {
    "change_column_default": "old code keeps writing its cached default",
    "execute": "unknown effect",
}
#: removals the new code no longer needs: after the release (issue 16; a
#: concurrent remove_index stays online, it may run at any time)
_CONTRACT_CALLS = {"remove_column", "remove_columns", "drop_table", "drop_join_table",
                   "remove_reference", "remove_belongs_to", "remove_foreign_key",
                   "remove_check_constraint", "remove_timestamps", "drop_view"}
_COLUMN_TYPES = {
    "string", "text", "integer", "bigint", "float", "decimal", "numeric",
    "datetime", "timestamp", "timestamptz", "time", "date", "binary", "boolean",
    "json", "jsonb", "uuid", "inet", "cidr", "macaddr", "hstore", "citext", "xml",
    "tsvector", "money", "bit", "bit_varying", "point", "line", "lseg", "box",
    "path", "polygon", "circle", "ltree", "interval", "int4range", "int8range",
    "numrange", "tsrange", "tstzrange", "daterange", "oid", "enum",
    "serial", "bigserial", "virtual",
}
_SERIAL = {"serial", "bigserial", "smallserial"}
# objects the old code does not use (the SQL reader's CREATE TYPE / CREATE
# EXTENSION / ALTER TYPE ADD VALUE rules): Rails 7's PostgreSQL enums
_ADDS_OBJECT = {"create_enum", "add_enum_value", "enable_extension",
                "create_schema"}
_STABLE_SQL = re.compile(r"""\s*['"]\s*(now\(\)|current_timestamp|current_date|"""
                         r"""statement_timestamp\(\)|transaction_timestamp\(\))"""
                         r"""\s*['"]\s*""", re.IGNORECASE)


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


_Line = tuple[int, str, bool, "tuple[int, str] | None"]


def _ruby_lines(text: str) -> list[_Line]:
    """Logical lines: comments dropped, a call continued over several lines
    (open brackets, a trailing comma or backslash) joined; with each, whether
    it holds a ``;`` (several statements) outside strings, and the heredoc it
    opens (its first line and text), kept apart from the code."""
    out: list[_Line] = []
    pending: tuple[int, str, str] | None = None
    heredoc: tuple[str, int, int, list[str]] | None = None  # tag, owner, first, lines
    heredocs: dict[int, tuple[int, str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if heredoc is not None:
            tag, owner, first, body = heredoc
            if raw.strip() == tag:
                heredocs.setdefault(owner, (first, "\n".join(body)))
                heredoc = None
            else:
                body.append(raw)
            continue
        code, bare = (part.strip() for part in _ruby_scan(raw))
        if not code or code.startswith("=begin"):
            continue
        start, joined, joined_bare = pending if pending else (number, "", "")
        match = _HEREDOC_RE.search(code)
        if match:
            heredoc = (match.group(2), start, number + 1, [])
        joined = f"{joined} {code}".strip()
        joined_bare = f"{joined_bare} {bare}".strip()
        balance = (sum(map(joined_bare.count, "([{"))
                   - sum(map(joined_bare.count, ")]}")))
        if balance > 0 or joined.endswith((",", "\\")):
            pending = (start, joined.rstrip("\\"), joined_bare.rstrip("\\"))
        else:
            out.append((start, joined, ";" in joined_bare, None))
            pending = None
    if pending:
        out.append((pending[0], pending[1], ";" in pending[2], None))
    return [(line, code, several, heredocs.get(line))
            for line, code, several, _ in out]


def _ruby_methods(text: str) -> tuple[dict[str, list[_Stmt]], bool, bool]:
    """The methods' statements (each block's inside its ``body``), whether the
    class disables the DDL transaction, and whether the do/end nesting
    balanced (else: not read)."""
    methods: dict[str, list[_Stmt]] = {}
    depth = 0
    current: str | None = None
    method_depth = 0
    stack: list[_Stmt] = []  # blocks open inside the current method
    no_transaction = False
    for line, code, several, heredoc in _ruby_lines(text):
        word = re.split(r"[\s(;]", code, maxsplit=1)[0]
        if code == "disable_ddl_transaction!":
            no_transaction = True
        if word == "end" or code.startswith("end."):
            depth -= 1
            if current is not None:
                if depth < method_depth:
                    current = None
                elif stack:
                    stack.pop()
            if depth < 0:
                return methods, no_transaction, False
            continue
        opens = word in _OPENERS or bool(_DO_RE.search(code))
        one_line = bool(re.search(r";\s*end$", code))
        if opens and one_line:
            opens = False  # def up; end / class Note < ApplicationRecord; end
            if word == "def" and current is None and (match := _DEF_RE.match(code)):
                methods.setdefault(match.group(1), [])  # an empty method
                continue
        if current is not None and depth >= method_depth:
            stmt = _Stmt(line, code, block=opens, several=several, heredoc=heredoc)
            (stack[-1].body if stack else methods[current]).append(stmt)
            if opens:
                stack.append(stmt)
        elif word == "def" and current is None:
            match = _DEF_RE.match(code)
            if match and opens:
                current = match.group(1)
                methods[current] = []
                method_depth = depth + 1
                stack = []
        if opens:
            depth += 1
    return methods, no_transaction, depth == 0


def _split_top(text: str) -> list[str]:
    """Comma-separated parts, not splitting inside brackets or quotes."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _positional(args: str) -> list[str]:
    return [p for p in _split_top(args)
            if not re.match(r"^(\w+:(\s|$)|:\w+\s*=>)", p)]


def _opt(args: str, key: str) -> str | None:
    """The value text of ``key: value`` / ``:key => value`` in an argument list."""
    match = re.search(rf"(?:\b{key}:|:{key}\s*=>)\s*(\{{[^}}]*\}}|->\s*\{{[^}}]*\}}"
                      rf"|\"[^\"]*\"|'[^']*'|[^,)}}]+)", args)
    return match.group(1).strip() if match else None


def _default(args: str) -> str | None:
    """The ``default:`` option; ``default: nil`` is no default at all."""
    value = _opt(args, "default")
    return None if value == "nil" else value


def _concurrent(value: str | None) -> bool:
    return bool(value) and bool(re.fullmatch(r"""[:'"]?concurrently['"]?""", value))


def read(path: str, text: str) -> tuple[str, str, Findings]:
    """(kind, reason, findings) for a Rails migration file."""
    found = Findings()

    def fail(why: str) -> tuple[str, str, Findings]:
        found.bad("Ruby", 1, why)
        return WINDOW, why, found

    if not path.endswith(".rb"):
        return fail("not a Ruby migration: not read")
    if not re.search(r"^\s*class\s+\w+\s*<\s*ActiveRecord::Migration", text, re.M):
        return fail("no ActiveRecord::Migration class")
    methods, no_transaction, balanced = _ruby_methods(text)
    if not balanced:
        return fail("could not follow the do/end nesting: not read")
    body = methods.get("up", methods.get("change"))
    if body is None:
        return fail("no change or up method: not read")
    _Reader(found, no_transaction).body(body)
    kind, reason = found.verdict("no operations")
    return kind, reason, found


class _Reader:
    def __init__(self, found: Findings, no_transaction: bool) -> None:
        self.found = found
        self.no_transaction = no_transaction

    def body(self, stmts: list[_Stmt]) -> None:
        for stmt in stmts:
            self.stmt(stmt)

    def stmt(self, stmt: _Stmt) -> None:
        found, line = self.found, stmt.line
        text = stmt.text
        if stmt.several:
            found.bad(text.split()[0][:40], line, "several statements on a line: not read")
            return
        word = re.split(r"[\s(;{]", text, maxsplit=1)[0]
        if word in ("return", "next", "else", "elsif", "puts", "say"):
            return  # a guard only skips work; else/elsif: both branches are read
        if word in ("if", "unless") and stmt.block:
            self.body(stmt.body)
            return
        if not stmt.block:
            text = _MODIFIER_RE.sub("", text)  # `add_index ... unless index_exists?`
        inline = _INLINE_BLOCK_RE.match(text)
        if inline and not stmt.block:
            self.inline(inline.group(1), inline.group(3), stmt)
            return
        match = _CALL_RE.match(text)
        name, args = (match.group(1), match.group(2)) if match else (text, "")
        if stmt.block:
            self.block(name, args, stmt)
        else:
            self.call(name, args, stmt)

    def inline(self, name: str, inner: str, stmt: _Stmt) -> None:
        if name in ("safety_assured", "up_only"):
            self.stmt(_Stmt(stmt.line, inner, False))
        elif name.endswith(".down"):
            return
        elif name.endswith(".up"):
            self.stmt(_Stmt(stmt.line, inner, False))
        else:
            self.found.bad(name, stmt.line, "block not read")

    def block(self, name: str, args: str, stmt: _Stmt) -> None:
        found, line = self.found, stmt.line
        if name in ("create_table", "create_join_table"):
            if _opt(args, "force") not in (None, "false"):
                found.bad(name, line, "force: drops an existing table")
            else:
                found.ok(name, line)  # its columns are the new table's
        elif name in ("safety_assured", "up_only", "say_with_time"):
            self.body(stmt.body)  # wrappers that run their block once
        elif name == "reversible":
            var = re.search(r"\|\s*(\w+)\s*\|", stmt.text)
            self.reversible(var.group(1) if var else "dir", stmt.body)
        elif name == "change_table":
            var = re.search(r"\|\s*(\w+)\s*\|", stmt.text)
            table = (_positional(args.split(" do")[0]) or [":t"])[0]
            for inner in stmt.body:
                self.table_stmt(var.group(1) if var else "t", table, inner)
        elif re.match(r"^\w+\.up\b", stmt.text):  # dir.up do ... end
            self.body(stmt.body)
        elif re.match(r"^\w+\.down\b", stmt.text):
            return
        else:
            found.bad(name.split()[0][:40], line, "block not read")

    def reversible(self, var: str, stmts: list[_Stmt]) -> None:
        """``dir.up`` runs, ``dir.down`` does not; anything else in the block
        runs both ways."""
        for stmt in stmts:
            if stmt.text.startswith(f"{var}.down"):
                continue
            self.stmt(stmt)

    def table_stmt(self, var: str, table: str, stmt: _Stmt) -> None:
        """``t.string :x`` inside ``change_table :t do |t|``: its top-level form."""
        match = re.match(rf"^{var}\.(\w+[!?]?)\s*\(?\s*(.*?)\)?$", stmt.text, re.DOTALL)
        if stmt.block or stmt.several or not match:
            self.stmt(stmt)
            return
        method, args = match.group(1), _MODIFIER_RE.sub("", match.group(2))
        if method == "column":
            self.call("add_column", f"{table}, {args}", stmt)
        elif method in _COLUMN_TYPES:
            for column in _positional(args) or ["?"]:
                options = ", ".join(p for p in _split_top(args)
                                    if p not in _positional(args))
                self.call("add_column", f"{table}, {column}, :{method}"
                          + (f", {options}" if options else ""), stmt)
        elif method in ("references", "belongs_to"):
            self.call("add_reference", f"{table}, {args}", stmt)
        elif method == "index":
            self.call("add_index", f"{table}, {args}", stmt)
        elif method == "timestamps":
            self.call("add_timestamps", f"{table}, {args}", stmt)
        elif method == "check_constraint":
            self.call("add_check_constraint", f"{table}, {args}", stmt)
        elif method == "remove":
            for column in _positional(args) or ["?"]:
                self.call("remove_column", f"{table}, {column}", stmt)
        elif method in ("remove_references", "remove_belongs_to"):
            self.call("remove_reference", f"{table}, {args}", stmt)
        elif method == "remove_index":
            self.call("remove_index", f"{table}, {args}", stmt)
        elif method == "remove_timestamps":
            self.call("remove_timestamps", f"{table}", stmt)
        else:
            self.found.bad(f"change_table {var}.{method}", stmt.line,
                           "changes or removes what the old code uses")

    def call(self, name: str, args: str, stmt: _Stmt) -> None:
        found, line = self.found, stmt.line
        if name in ("create_table", "create_join_table"):
            if _opt(args, "force") not in (None, "false"):
                found.bad(name, line, "force: drops an existing table")
            else:
                found.ok(name, line)
        elif name == "add_column":
            self.add_column(args, line)
        elif name in _CONTRACT_CALLS:
            self.contract(name, args, line)
        elif name == "remove_index" and not _concurrent(_opt(args, "algorithm")):
            self.contract(name, args, line)
        elif name in ("add_index", "remove_index"):
            if not _concurrent(_opt(args, "algorithm")):
                found.bad(name, line, "without algorithm: :concurrently it locks the table")
            elif not self.no_transaction:
                found.bad(name, line, "algorithm: :concurrently needs "
                          "disable_ddl_transaction!")
            else:
                found.ok(f"{name}(concurrently)", line)
        elif name in ("add_reference", "add_belongs_to"):
            self.reference(name, args, line)
        elif name == "add_timestamps":
            if _opt(args, "null") == "true":
                found.ok(name, line)
            else:
                found.bad(name, line, "NOT NULL without a default unless null: true")
        elif name in ("add_foreign_key", "add_check_constraint"):
            if _opt(args, "validate") == "false":
                found.ok(f"{name}(validate: false)", line)
            else:
                found.bad(name, line, "validates the table under lock; "
                          "use validate: false")
        elif name in _ADDS_OBJECT:
            found.ok(name, line)
        elif name in ("validate_foreign_key", "validate_check_constraint"):
            found.ok(name, line)  # SHARE UPDATE EXCLUSIVE: reads and writes go on
        elif name == "change_column_null" and _positional(args)[2:3] == ["true"]:
            found.ok("change_column_null(true)", line)  # DROP NOT NULL
        elif name == "execute":
            self.execute(args, stmt)
        else:
            label = re.split(r"[\s(]", name, maxsplit=1)[0][:40]
            found.bad(label, line, _WINDOW_WHY.get(
                name, "" if re.fullmatch(r"[a-z_]+[!?]?", label) else "unknown effect"))

    def contract(self, name: str, args: str, line: int) -> None:
        """A removal the new code no longer needs: after the release."""
        why = "the old code may still use it: after the release (CONTRACT)"
        positional = [p.lstrip(":").strip("'\"") for p in _positional(args)]
        table = positional[0] if positional else "?"
        if name in ("remove_column", "remove_columns"):
            for column in positional[1:] or ["?"]:
                if name == "remove_column" and column != positional[1]:
                    break  # remove_column :t, :c, :type: the type is no column
                self.found.after(name, line, why, column=f"{table}.{column}")
        elif name in ("remove_reference", "remove_belongs_to"):
            ref = positional[1] if len(positional) > 1 else "?"
            self.found.after(name, line, why, column=f"{table}.{ref}_id")
        elif name == "remove_timestamps":
            for column in ("created_at", "updated_at"):
                self.found.after(name, line, why, column=f"{table}.{column}")
        else:
            self.found.after(name, line, why)

    def execute(self, args: str, stmt: _Stmt) -> None:
        """SQL given as one string literal or a heredoc: read with the SQL
        reader; anything built at run time: unknown effect."""
        if stmt.heredoc is not None and _HEREDOC_RE.fullmatch(args.strip("() ")):
            first, text = stmt.heredoc
            offset = first - 1
        else:
            literal = re.fullmatch(r"""\(?\s*(['"])(.*)\1\s*\)?""", args, re.DOTALL)
            if not literal or "#{" in literal.group(2):
                self.found.bad("execute", stmt.line, "unknown effect")
                return
            text, offset = literal.group(2), stmt.line - 1
        if "#{" in text:
            self.found.bad("execute", stmt.line, "SQL built at run time: unknown effect")
            return
        from herotasks.core.classify import sql  # pglast: loaded only when there is SQL
        inner = sql.findings(text, transactional=not self.no_transaction)
        if not inner.items:
            self.found.ok("execute(no statements)", stmt.line)
        self.found.extend(inner, offset=offset, prefix="execute: ")

    def add_column(self, args: str, line: int) -> None:
        found = self.found
        positional = _positional(args)
        kind = positional[2].lstrip(":").strip("'\"") if len(positional) > 2 else ""
        default = _default(args)
        if kind in _SERIAL:
            found.bad("add_column", line, f":{kind} fills every row: rewrites the table")
        elif kind == "virtual" or _opt(args, "as") is not None:
            if _opt(args, "stored") == "true":
                found.bad("add_column", line,
                          "a stored generated column rewrites the table")
            else:
                found.bad("add_column", line, "a generated column: not known to be safe")
        elif default and re.match(r"->|lambda\b|proc\b", default):
            body = re.sub(r"^(->|lambda|proc)\s*\{\s*(.*?)\s*\}$", r"\2", default)
            if _STABLE_SQL.fullmatch(body):
                found.ok("add_column", line)
            else:
                found.bad("add_column", line,
                          "an SQL expression default may be volatile and rewrite the "
                          "table")
        elif default and kind == "uuid" and "()" in default:
            found.bad("add_column", line, "a function default on a uuid column is "
                      "sent as SQL: volatile, it rewrites the table")
        elif _opt(args, "null") == "false" and default is None:
            found.bad("add_column", line, "null: false without a default")
        else:
            found.ok("add_column", line)

    def reference(self, name: str, args: str, line: int) -> None:
        found = self.found
        index = _opt(args, "index")
        foreign_key = _opt(args, "foreign_key")
        if _opt(args, "null") == "false" and _default(args) is None:
            found.bad(name, line, "null: false without a default")
        elif foreign_key not in (None, "false"):
            found.bad(name, line, "adds a validated foreign key under lock")
        elif index == "false":
            found.ok(f"{name}(index: false)", line)
        elif index and index.startswith("{") and _concurrent(_opt(index, "algorithm")):
            if self.no_transaction:
                found.ok(f"{name}(concurrent index)", line)
            else:
                found.bad(name, line, "algorithm: :concurrently needs "
                          "disable_ddl_transaction!")
        else:
            found.bad(name, line, "builds its index under lock; use index: false or "
                      "index: {algorithm: :concurrently}")


def without_heredocs(text: str) -> str:
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
