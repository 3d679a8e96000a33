"""SQL, read with PostgreSQL's own grammar.

The statements come from pglast (libpg_query: the parser of the PostgreSQL
server itself, so what parses here parses there, dollar quoting, ``E''``
strings and nested comments included). The rules that turn each statement
into online or window are herotasks' own; each says where it comes from:

- **PG-ALTER**: PostgreSQL docs, ALTER TABLE (lock levels per form; "Notes":
  adding a column with a volatile DEFAULT, a stored generated column or an
  identity rewrites the table and its indexes; ALTER COLUMN TYPE may rewrite;
  SET NOT NULL scans the table; SET DEFAULT changes only later INSERTs;
  DROP NOT NULL changes only the catalog; ADD CONSTRAINT CHECK/FOREIGN KEY
  scans the table unless NOT VALID; VALIDATE CONSTRAINT takes only SHARE
  UPDATE EXCLUSIVE, so reads and writes go on).
- **PG-INDEX**: PostgreSQL docs, CREATE INDEX, "Building Indexes
  Concurrently": a plain build holds a SHARE lock (no writes) for the whole
  scan; CONCURRENTLY does not, and "cannot be executed inside a transaction
  block" (so a concurrent build inside one fails: window).
- **PG-ENUM**: PostgreSQL docs, ALTER TYPE: ``ADD VALUE`` adds a label, the
  old code never sees it; ``RENAME VALUE`` changes what it reads.
- **SM**: strong_migrations (ankane), "Checks": adding an index
  non-concurrently, a validated foreign key or check constraint, an
  auto-incrementing (``bigserial``) or stored generated column, setting NOT
  NULL, changing a column's type, renaming or removing columns and tables,
  executing SQL and backfilling are dangerous; ``validate: false`` then
  validating *in a separate migration* is its safe way (in one transaction
  the add's lock is held until the validation's scan ends).
- **DZ**: django-pg-zero-downtime-migrations: the same split for Django, and
  that objects created in the same migration (an index or constraint on a new
  table) take no lock anyone waits on: the table is empty and nobody uses it.

- **CONTRACT** (issue 16; GitLab's post-deployment migrations, Mastodon's
  ``db/post_migrate``, strong_migrations' "Removing a column": the code stops
  using it first, then it is dropped): ``DROP TABLE``/``INDEX``/``VIEW``/
  ``SEQUENCE``/``FUNCTION``/``TYPE``/``TRIGGER`` and ``ALTER TABLE DROP
  COLUMN``/``DROP CONSTRAINT`` remove what the new code no longer uses:
  ``after``, run once the old release is gone. A plain ``DROP INDEX`` takes
  ACCESS EXCLUSIVE only for the catalog change (no scan).

- **PG-PROTO**: PostgreSQL docs, "Multiple Statements in a Simple Query":
  statements sent in one string run as one transaction unless it holds
  transaction commands; so a constraint added NOT VALID and validated in the
  same file (or ``RunSQL``/``execute`` string) is taken as one transaction
  until a ``COMMIT`` written in it, whatever the runner does.

Choices herotasks makes where the sources leave it open: ``CREATE FUNCTION``,
``CREATE TYPE``/``SEQUENCE``/``EXTENSION``/``SCHEMA``/``VIEW``, ``COMMENT``
and ``GRANT`` add objects the old code does not use: online. ``CREATE OR
REPLACE`` changes what the old code calls or reads: window. Data changes
(``INSERT``/``UPDATE``/``DELETE``), ``DO`` blocks and anything not
understood: window, except rows put into a table created in the same file.

Importing this module loads pglast (~35 ms, most of an ``inv``'s own import
time): the Ruby and Python readers import it where they have SQL in hand, so a
deploy whose migrations hold none never pays for it
(tests/unit/test_import_cost.py).
"""

from __future__ import annotations

import bisect
from typing import Any

from pglast import ast, enums, parser
from pglast.parser import ParseError

from herotasks.core.classify.common import WINDOW, Findings

READ = "SQL, PostgreSQL's grammar (pglast)"

_SERIAL = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}
# Functions PostgreSQL marks stable or immutable that defaults commonly use
# (pg_proc.provolatile): PostgreSQL 11+ stores their value once, no rewrite.
_STABLE_FUNCS = {"now", "statement_timestamp", "transaction_timestamp"}
_AT = enums.AlterTableType
_CT = enums.ConstrType
_OBJ = enums.ObjectType
_ADDS = {  # CREATE statements that add an object the old code does not use
    ast.CreateSeqStmt: "CREATE SEQUENCE", ast.CreateEnumStmt: "CREATE TYPE",
    ast.CompositeTypeStmt: "CREATE TYPE", ast.CreateRangeStmt: "CREATE TYPE",
    ast.CreateExtensionStmt: "CREATE EXTENSION", ast.CreateSchemaStmt: "CREATE SCHEMA",
    ast.CreateDomainStmt: "CREATE DOMAIN", ast.CommentStmt: "COMMENT",
}
# SET CONSTRAINTS only moves deferred checks of this transaction (Django
# emits it before dropping a ForeignKey)
_NEUTRAL = (ast.TransactionStmt, ast.VariableSetStmt, ast.VariableShowStmt,
            ast.ConstraintsSetStmt)
_COLUMN_SAFE = {  # ALTER TABLE forms that neither scan nor break the old code
    _AT.AT_ColumnDefault: ("SET DEFAULT", "changes only later INSERTs (PG-ALTER)"),
    _AT.AT_DropNotNull: ("DROP NOT NULL", "catalog only (PG-ALTER)"),
    _AT.AT_SetStatistics: ("SET STATISTICS", "SHARE UPDATE EXCLUSIVE (PG-ALTER)"),
    _AT.AT_SetOptions: ("SET (attribute_option)", "SHARE UPDATE EXCLUSIVE (PG-ALTER)"),
}
_COLUMN_BAD = {
    _AT.AT_SetNotNull: ("ALTER COLUMN SET NOT NULL",
                        "scans the table under ACCESS EXCLUSIVE (PG-ALTER, SM)"),
    _AT.AT_AlterColumnType: ("ALTER COLUMN TYPE",
                             "may rewrite the table under ACCESS EXCLUSIVE; "
                             "the old code reads the old type (PG-ALTER, SM)"),
}
#: DROP statements that only remove: after the release (CONTRACT)
_DROPS_AFTER = {_OBJ.OBJECT_TABLE, _OBJ.OBJECT_INDEX, _OBJ.OBJECT_VIEW,
                _OBJ.OBJECT_MATVIEW, _OBJ.OBJECT_SEQUENCE, _OBJ.OBJECT_FUNCTION,
                _OBJ.OBJECT_PROCEDURE, _OBJ.OBJECT_TYPE, _OBJ.OBJECT_TRIGGER}
_CONTRACT_WHY = "the old code may still use it: after the release (CONTRACT)"


class Session:
    """What earlier statements of the same file leave behind."""

    def __init__(self, transactional: bool | None) -> None:
        self.created: set[str] = set()  # tables created in this file
        #: constraints added NOT VALID in the transaction still open
        self.not_valid: set[str] = set()
        #: the caller knows the file runs in one transaction (Django atomic,
        #: Rails without disable_ddl_transaction!); None: plain SQL file
        self.outer = bool(transactional)
        #: the caller knows each text runs on its own, outside any
        #: transaction (Django's atomic = False): what one text added NOT
        #: VALID is committed before the next text runs
        self.autocommit = transactional is False
        self.explicit = False  # inside BEGIN ... COMMIT written in the file

    @property
    def in_transaction(self) -> bool:
        return self.outer or self.explicit


def findings(text: str, *, transactional: bool | None = None,
             session: Session | None = None,
             skip_tables: frozenset[str] = frozenset()) -> Findings:
    """Findings for every statement of ``text``.

    :param transactional: True when the whole text runs in one transaction
        the caller knows of (a concurrent index build then fails, and a
        NOT VALID constraint validated later in the text is validated in the
        same transaction); None or False for a plain file whose transaction
        is only what it writes itself.
    :param session: what earlier texts of the same migration left (tables
        created, constraints added NOT VALID), when a migration's SQL comes
        in several pieces (one per Django operation).
    :param skip_tables: the framework's own bookkeeping (Alembic's
        ``alembic_version``): statements on them are not the migration's.
    """
    found = Findings()
    try:
        stmts = parser.parse_sql(text)
    except ParseError as err:
        where = err.args[1] if len(err.args) > 1 and isinstance(err.args[1], int) else 0
        line = text.count("\n", 0, max(where, 0)) + 1
        message = str(err.args[0]) if err.args else "syntax error"
        if message.startswith("unterminated"):
            found.bad("SQL", line, f"a quote or comment opened on line {line} "
                      "never ends")
            return found
        # the statements before the one that does not parse are still shown
        try:
            ends = [t.end for t in parser.scan(text[:where]) if text[t.start] == ";"]
        except ParseError:
            ends = []
        if ends:
            found = findings(text[:ends[-1] + 1], transactional=transactional,
                             session=session, skip_tables=skip_tables)
        found.bad("SQL", line, f"does not parse: {message[:80]}")
        return found
    state = session if session is not None else Session(transactional)
    if state.autocommit and not state.explicit:
        # one text is one execute: its statements share PostgreSQL's
        # implicit transaction, an earlier text's do not
        state.not_valid.clear()
    # the whole text parsed, so it scans: each statement's first token
    # (libpg_query's location may include the comments before it)
    tokens = parser.scan(text)
    starts = [t.start for t in tokens]
    for raw in stmts:
        if skip_tables and _rel(raw.stmt) in skip_tables:
            continue
        first = bisect.bisect_left(starts, raw.stmt_location or 0)
        start = tokens[first].start if first < len(tokens) else raw.stmt_location or 0
        line = text.count("\n", 0, start) + 1
        _statement(raw.stmt, line, _label(text, tokens[first:first + 6]), state, found)
    return found


def read(path: str, text: str) -> tuple[str, str, Findings]:
    """(kind, reason, findings) for an SQL migration file."""
    if not path.endswith(".sql"):
        found = Findings()
        found.bad("file", 1, "not an SQL file: not read (mark it to say)")
        return WINDOW, "not an SQL file: not read (mark it to say)", found
    found = findings(text)
    kind, reason = found.verdict("no statements")
    return kind, reason, found


def _label(text: str, tokens: Any) -> str:
    """The statement's leading keywords: ``DROP TABLE``, ``CREATE OR
    REPLACE VIEW``, ``UPDATE``."""
    words: list[str] = []
    for token in tokens:
        if token.kind == "NO_KEYWORD":
            break
        word = text[token.start:token.end + 1].upper()
        if word not in ("UNIQUE", "IF", "ONLY"):
            words.append(word)
    if words[:2] == ["CREATE", "OR"]:
        return " ".join(words[:4])
    return " ".join(words[:1] if words[:1] in (["UPDATE"], ["DELETE"], ["INSERT"],
                                                ["DO"], ["SELECT"]) else words[:2])


def _rel(node: Any) -> str:
    rv = getattr(node, "relation", None)
    return rv.relname if rv is not None else ""


def _statement(stmt: Any, line: int, label: str, state: Session,
               found: Findings) -> None:
    kind = type(stmt)
    if isinstance(stmt, ast.TransactionStmt):
        k = enums.TransactionStmtKind
        if stmt.kind in (k.TRANS_STMT_BEGIN, k.TRANS_STMT_START):
            state.explicit = True
        elif stmt.kind in (k.TRANS_STMT_COMMIT, k.TRANS_STMT_ROLLBACK):
            state.explicit = False
            if not state.outer:
                state.not_valid.clear()
        return
    if isinstance(stmt, _NEUTRAL):
        return
    if kind is ast.CreateStmt:
        if stmt.partbound is not None:
            found.bad("CREATE TABLE PARTITION OF", line,
                      "attaching a partition locks its parent (PG-ALTER)")
        else:
            state.created.add(_rel(stmt))
            found.ok("CREATE TABLE", line)
    elif kind is ast.CreateTableAsStmt:
        found.ok("CREATE TABLE AS" if stmt.objtype == _OBJ.OBJECT_TABLE
                 else "CREATE MATERIALIZED VIEW", line)
    elif kind is ast.IndexStmt:
        _index(stmt, line, state, found)
    elif kind is ast.DropStmt:
        if stmt.removeType == _OBJ.OBJECT_INDEX and stmt.concurrent:
            if state.in_transaction:
                found.bad("DROP INDEX CONCURRENTLY", line,
                          "cannot run inside a transaction (PG-INDEX)")
            else:
                found.ok("DROP INDEX CONCURRENTLY", line)
        elif stmt.removeType in _DROPS_AFTER:
            found.after(label, line, _CONTRACT_WHY)
        else:
            found.bad(label, line, "the old code may still use it")
    elif kind in _ADDS:
        found.ok(_ADDS[kind], line)
    elif kind is ast.ViewStmt:
        if stmt.replace:
            found.bad("CREATE OR REPLACE VIEW", line, "changes what the old code reads")
        else:
            found.ok("CREATE VIEW", line)
    elif kind is ast.CreateFunctionStmt:
        what = "CREATE PROCEDURE" if stmt.is_procedure else "CREATE FUNCTION"
        if stmt.replace:
            found.bad(f"CREATE OR REPLACE {what.split()[1]}", line,
                      "changes what the old code calls")
        else:
            found.ok(what, line)
    elif kind is ast.AlterEnumStmt:
        if stmt.oldVal:
            found.bad("ALTER TYPE RENAME VALUE", line, "the old code writes the old label")
        else:
            found.ok("ALTER TYPE ADD VALUE", line)
    elif kind is ast.GrantStmt and stmt.is_grant:
        found.ok("GRANT", line)
    elif kind is ast.CreateTrigStmt and _rel(stmt) in state.created:
        found.ok("CREATE TRIGGER (new table)", line)
    elif kind is ast.AlterTableStmt and stmt.objtype == _OBJ.OBJECT_TABLE:
        _alter_table(stmt, line, state, found)
    elif kind is ast.RenameStmt:
        found.bad(_rename_label(stmt), line, "the old code uses the old name (SM)")
    elif kind is ast.InsertStmt and _rel(stmt) in state.created:
        found.ok("INSERT (new table)", line)
    elif kind in (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt):
        found.bad(label, line, "data change")
    else:
        found.bad(label or kind.__name__, line, "not known to be safe")


def _rename_label(stmt: Any) -> str:
    if stmt.renameType == _OBJ.OBJECT_COLUMN:
        return "ALTER TABLE RENAME COLUMN"
    if stmt.renameType == _OBJ.OBJECT_TABCONSTRAINT:
        return "ALTER TABLE RENAME CONSTRAINT"
    return f"RENAME {stmt.renameType.name.removeprefix('OBJECT_')}"


def _index(stmt: Any, line: int, state: Session, found: Findings) -> None:
    table = _rel(stmt)
    if stmt.concurrent:
        if state.in_transaction:
            found.bad("CREATE INDEX CONCURRENTLY", line,
                      "cannot run inside a transaction (PG-INDEX)")
        else:
            found.ok("CREATE INDEX CONCURRENTLY", line)
    elif table in state.created:
        found.ok("CREATE INDEX (new table)", line)
    else:
        found.bad("CREATE INDEX", line,
                  "without CONCURRENTLY it locks writes (PG-INDEX, SM)")


def _alter_table(stmt: Any, line: int, state: Session, found: Findings) -> None:
    table = _rel(stmt)
    new = table in state.created
    for cmd in stmt.cmds:
        sub = cmd.subtype
        if new:
            found.ok(f"ALTER TABLE {_sub_name(sub)} (new table)", line)
        elif sub == _AT.AT_AddColumn:
            why = _column_why(cmd.def_)
            if why:
                found.bad("ALTER TABLE ADD COLUMN", line, why)
            else:
                found.ok("ALTER TABLE ADD COLUMN", line)
        elif sub == _AT.AT_ColumnDefault and cmd.def_ is None:
            # what Django does after adding a NOT NULL column with a
            # Python-side default: the old code's INSERTs, which leave the
            # column out, then fail
            found.bad("ALTER TABLE ALTER COLUMN DROP DEFAULT", line,
                      "a NOT NULL column without a default breaks the old code's "
                      "INSERTs")
        elif sub == _AT.AT_DropColumn:
            found.after("ALTER TABLE DROP COLUMN", line, _CONTRACT_WHY,
                        column=f"{table}.{cmd.name}")
        elif sub == _AT.AT_DropConstraint:
            found.after("ALTER TABLE DROP CONSTRAINT", line, _CONTRACT_WHY)
        elif sub in _COLUMN_SAFE:
            found.ok(f"ALTER TABLE ALTER COLUMN {_COLUMN_SAFE[sub][0]}", line)
        elif sub in _COLUMN_BAD:
            what, why = _COLUMN_BAD[sub]
            found.bad(f"ALTER TABLE {what}", line, why)
        elif sub == _AT.AT_AddConstraint:
            _add_constraint(cmd.def_, line, state, found)
        elif sub == _AT.AT_ValidateConstraint:
            if cmd.name in state.not_valid:
                found.bad("ALTER TABLE VALIDATE CONSTRAINT", line,
                          f"{cmd.name} was added NOT VALID in the same transaction: "
                          "the add's lock is held through the scan; validate in "
                          "a later migration (SM)")
            else:
                found.ok("VALIDATE CONSTRAINT", line)
        else:
            found.bad(f"ALTER TABLE {_sub_name(sub)}", line, "not known to be safe")


def _sub_name(sub: Any) -> str:
    return sub.name.removeprefix("AT_")


def _add_constraint(con: Any, line: int, state: Session, found: Findings) -> None:
    if con.contype in (_CT.CONSTR_FOREIGN, _CT.CONSTR_CHECK):
        name = "FOREIGN KEY" if con.contype == _CT.CONSTR_FOREIGN else "CHECK"
        if con.skip_validation:
            # a text's statements are one transaction until a COMMIT
            # written in it (PG-PROTO; most runners wrap each file in one too)
            if con.conname:
                state.not_valid.add(con.conname)
            found.ok("ADD CONSTRAINT NOT VALID", line)
        else:
            found.bad(f"ALTER TABLE ADD CONSTRAINT {name}", line,
                      "validates every row under lock; add NOT VALID, then "
                      "VALIDATE CONSTRAINT in a later migration (PG-ALTER, SM)")
    elif con.contype == _CT.CONSTR_UNIQUE and con.indexname:
        found.ok("ADD CONSTRAINT UNIQUE USING INDEX", line)
    else:
        found.bad(f"ALTER TABLE ADD CONSTRAINT {con.contype.name.removeprefix('CONSTR_')}",
                  line, "builds an index or validates under lock (PG-ALTER, SM)")


def _column_why(col: Any) -> str:
    """Why ``ADD COLUMN`` needs the window ('' if it does not)."""
    type_name = col.typeName.names[-1].sval.lower() if col.typeName else ""
    if type_name in _SERIAL:
        return f"{type_name} fills every row: rewrites the table (PG-ALTER, SM)"
    if col.identity and col.identity != "\x00":
        return "an identity column rewrites the table (PG-ALTER)"
    default = not_null = False
    for con in col.constraints or ():
        if con.contype == _CT.CONSTR_IDENTITY:
            return "an identity column rewrites the table (PG-ALTER)"
        if con.contype == _CT.CONSTR_GENERATED and getattr(
                con, "generated_kind", "s") != "v":  # VIRTUAL: PostgreSQL 18
            return "a stored generated column rewrites the table (PG-ALTER, SM)"
        if con.contype in (_CT.CONSTR_PRIMARY, _CT.CONSTR_UNIQUE):
            return "builds an index under lock (PG-INDEX)"
        if con.contype in (_CT.CONSTR_FOREIGN, _CT.CONSTR_CHECK):
            return "validates under lock (PG-ALTER, SM)"
        if con.contype == _CT.CONSTR_DEFAULT:
            if _volatile(con.raw_expr):
                return ("a default that may be volatile rewrites the table "
                        "(PG-ALTER)")
            default = True
        if con.contype == _CT.CONSTR_NOTNULL:
            not_null = True
    if not_null and not default:
        return "NOT NULL without a DEFAULT: the old code's INSERTs fail"
    return ""


def _volatile(expr: Any) -> bool:
    """Constants, casts of constants, arrays of them, CURRENT_TIMESTAMP and
    friends and now() are stored once; anything else might be volatile."""
    if isinstance(expr, (ast.A_Const, ast.SQLValueFunction)):
        return False
    if isinstance(expr, ast.TypeCast):
        return _volatile(expr.arg)
    if isinstance(expr, ast.A_ArrayExpr):
        return any(_volatile(e) for e in expr.elements or ())
    if isinstance(expr, ast.FuncCall) and not expr.args:
        return expr.funcname[-1].sval.lower() not in _STABLE_FUNCS
    return True
