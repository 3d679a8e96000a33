"""Django migrations, read statically with :mod:`ast` (never imported).

What an operation does to the database is not always written in the file: a
field *type* implies SQL of its own. What each field class Django ships makes
the PostgreSQL schema editor emit (``django/db/backends/postgresql/
schema.py`` and ``base.py``'s ``data_types``/``data_type_check_constraints``,
``django/db/models/fields/__init__.py``):

- ``SlugField`` has ``db_index=True`` by default: a plain ``CREATE INDEX`` and
  a ``varchar_pattern_ops`` one, both locking writes (PG-INDEX).
- ``PositiveIntegerField``, ``PositiveSmallIntegerField`` and
  ``PositiveBigIntegerField`` come with ``CHECK ("col" >= 0)``, which
  PostgreSQL validates by scanning the table under ACCESS EXCLUSIVE
  (PG-ALTER; django-pg-zero-downtime-migrations lists it).
- ``AutoField``/``BigAutoField``/``SmallAutoField`` are identity primary
  keys: the table is rewritten and an index built.
- ``ForeignKey`` builds an index and a validated foreign key; ``OneToOneField``
  a unique index and one. ``GeneratedField`` is a stored generated column
  (PostgreSQL has no other kind before 18): a rewrite.
- GeoDjango's geometry and raster fields build a GiST index unless
  ``spatial_index=False``.
- ``ManyToManyField`` is a join table; ``ForeignObject``,
  ``GenericRelation`` and ``GenericForeignKey`` add no column.
- Any other class (a custom field, ``TreeForeignKey``, ``MoneyField``,
  ``EncryptedTextField``) may emit anything: window.

The other rules are the module docstring's of :mod:`herotasks.core.classify`.
``RunSQL`` with its SQL written as a literal is read with the SQL reader, in a
transaction unless ``atomic = False``; ``RunPython(RunPython.noop)`` does
nothing forwards.
"""

from __future__ import annotations

import ast
from dataclasses import replace

from herotasks.core.classify.common import WINDOW, Findings

READ = "Django operations, read statically"
READ_SQL = "SQL from Django (sqlmigrate, offline), PostgreSQL's grammar"

_ONLINE_OPS = {
    "CreateModel", "AlterModelOptions", "AlterModelManagers",
    "AlterModelTableComment",  # COMMENT ON TABLE
    "CreateExtension", "BloomExtension", "BtreeGinExtension", "BtreeGistExtension",
    "CITextExtension", "CryptoExtension", "HStoreExtension", "TrigramExtension",
    "UnaccentExtension", "CreateCollation",
}
_CONCURRENT_OPS = {"AddIndexConcurrently", "RemoveIndexConcurrently"}
_WHY = {
    "AddIndex": "a plain CREATE INDEX locks writes; use AddIndexConcurrently",
    "RunPython": "unknown effect",
    "RunSQL": "unknown effect",
    "AlterUniqueTogether": "builds a unique index under lock",
    "AlterIndexTogether": "builds an index under lock",
    "AddConstraint": "validates the table under lock",
    "AlterField": "its SQL depends on the field it replaces: not known here",
}

# Field classes whose column is plain: what AddField does depends only on
# null / default / db_default / unique / db_index / primary_key.
PLAIN_FIELDS = frozenset({
    "BigIntegerField", "BinaryField", "BooleanField", "CharField", "DateField",
    "DateTimeField", "DecimalField", "DurationField", "EmailField", "FileField",
    "FilePathField", "FloatField", "GenericIPAddressField", "ImageField",
    "IntegerField", "JSONField", "SmallIntegerField", "TextField", "TimeField",
    "URLField", "UUIDField",
    # removed from Django but still in old migrations, which keep working
    "NullBooleanField", "IPAddressField", "CommaSeparatedIntegerField",
    # django.contrib.postgres
    "ArrayField", "HStoreField", "CICharField", "CIEmailField", "CITextField",
    "IntegerRangeField", "BigIntegerRangeField", "DecimalRangeField",
    "DateTimeRangeField", "DateRangeField", "SearchVectorField", "SearchQueryField",
})
#: the field class implies SQL its arguments do not show: (why, unless-kwarg)
IMPLIED = {
    "SlugField": ("db_index=True by default: builds plain indexes under lock",
                  ("db_index", False)),
    "PositiveIntegerField": ("adds CHECK (col >= 0): a scan under ACCESS "
                             "EXCLUSIVE", None),
    "PositiveSmallIntegerField": ("adds CHECK (col >= 0): a scan under ACCESS "
                                  "EXCLUSIVE", None),
    "PositiveBigIntegerField": ("adds CHECK (col >= 0): a scan under ACCESS "
                                "EXCLUSIVE", None),
    "AutoField": ("an identity primary key rewrites the table", None),
    "BigAutoField": ("an identity primary key rewrites the table", None),
    "SmallAutoField": ("an identity primary key rewrites the table", None),
    "GeneratedField": ("a stored generated column rewrites the table", None),
    "OneToOneField": ("builds a unique index and a validated foreign key "
                      "under lock", None),
    "CompositePrimaryKey": ("changes the primary key", None),
}
_GIS_FIELDS = frozenset({
    "GeometryField", "PointField", "LineStringField", "PolygonField",
    "MultiPointField", "MultiLineStringField", "MultiPolygonField",
    "GeometryCollectionField", "RasterField",
})
_NULL_BY_DEFAULT = frozenset({"NullBooleanField"})  # null=True built in
NO_COLUMN_FIELDS = frozenset({"ManyToManyField", "ForeignObject",
                              # contenttypes: no column of their own
                              "GenericRelation", "GenericForeignKey"})


def read(path: str, text: str) -> tuple[str, str, Findings]:
    """(kind, reason, findings) for a Django migration file."""
    found = Findings()
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as err:
        line = getattr(err, "lineno", None) or 0
        found.bad("Python", line, "does not parse" + (f" (line {line})" if line else ""))
        return WINDOW, "does not parse" + (f" (line {line})" if line else ""), found
    migration = next((node for node in tree.body if isinstance(node, ast.ClassDef)
                      and node.name == "Migration"), None)
    if migration is None:
        found.bad("Python", 1, "no Migration class")
        return WINDOW, "no Migration class", found
    atomic = True
    operations: ast.expr | None = None
    for node in migration.body:
        target, value = _assignment(node)
        if target == "atomic":
            atomic = not (isinstance(value, ast.Constant) and value.value is False)
        elif target == "operations":
            operations = value
    if operations is None:
        found.bad("Migration", migration.lineno, "has no operations list")
        return WINDOW, "Migration has no operations list", found
    _ops(operations, found, atomic=atomic)
    kind, reason = found.verdict("no operations")
    return kind, reason, found


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


def _kwarg(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _is(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _ops(operations: ast.expr, found: Findings, *, atomic: bool,
         not_valid: set[str] | None = None) -> None:
    """:param not_valid: constraint names added NOT VALID earlier in this
        migration (``AddConstraintNotValid``)."""
    not_valid = set() if not_valid is None else not_valid
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
                found.ok("SeparateDatabaseAndState(state only)", op.lineno)
            else:
                _ops(db_ops, found, atomic=atomic, not_valid=not_valid)
        elif name == "AddConstraintNotValid":
            constraint = _arg(op, "constraint", 1)
            kind = _name(constraint.func) if isinstance(constraint, ast.Call) else None
            label = _kwarg(constraint, "name") if isinstance(constraint, ast.Call) else None
            if kind == "CheckConstraint":
                if isinstance(label, ast.Constant):
                    not_valid.add(str(label.value))
                found.ok("AddConstraintNotValid", op.lineno)
            else:
                # NOT VALID applies to CHECK and FOREIGN KEY only; Django
                # refuses anything else, so what this is is not known
                found.bad("AddConstraintNotValid", op.lineno, "not a CheckConstraint")
        elif name == "ValidateConstraint":
            label = _arg(op, "name", 1)
            if atomic and isinstance(label, ast.Constant) and label.value in not_valid:
                found.bad("ValidateConstraint", op.lineno,
                          f"{label.value} was added NOT VALID in the same transaction: "
                          "the add's lock is held through the scan (SM)")
            else:
                found.ok("ValidateConstraint", op.lineno)  # SHARE UPDATE EXCLUSIVE
        elif name == "AddField":
            _add_field(op, found)
        elif name in _CONTRACT_OPS:
            _contract(op, name, found)
        elif name == "RunSQL":
            _run_sql(op, found, atomic=atomic)
        elif name == "RunPython" and _noop(_arg(op, "code", 0)):
            found.ok("RunPython(noop)", op.lineno)
        elif name in _CONCURRENT_OPS:
            if atomic:
                found.bad(name, op.lineno, "needs atomic = False on the Migration")
            else:
                found.ok(name, op.lineno)
        elif name in _ONLINE_OPS:
            found.ok(name, op.lineno)
        else:
            found.bad(name, op.lineno, _WHY.get(name, ""))


#: operations that only remove what the new code no longer uses: after the
#: release (issue 16, CONTRACT in :mod:`.sql`)
_CONTRACT_OPS = {"RemoveField", "DeleteModel", "RemoveIndex", "RemoveConstraint"}


def _contract(op: ast.Call, name: str, found: Findings) -> None:
    why = "the old code may still use it: after the release (CONTRACT)"
    if name != "RemoveField":
        found.after(name, op.lineno, why)
        return
    model, field = _arg(op, "model_name", 0), _arg(op, "name", 1)
    # the table is app_model unless Meta.db_table says otherwise (not read
    # here): the name is shown, the gap rule holds for any name
    column = (f"{model.value.lower()}.{field.value}" if isinstance(model, ast.Constant)
              and isinstance(field, ast.Constant) else "?")
    found.after(name, op.lineno, why, column=column, db_names=False)


def _noop(node: ast.expr | None, owner: str = "RunPython") -> bool:
    """``migrations.RunPython.noop`` / ``RunPython.noop`` (or RunSQL's)."""
    return isinstance(node, ast.Attribute) and node.attr == "noop" and _name(
        node.value) == owner


def _run_sql(op: ast.Call, found: Findings, *, atomic: bool) -> None:
    """The SQL of ``RunSQL``, when it is written as a literal (a string or a
    list of strings), read with PostgreSQL's grammar; else unknown effect."""
    node = _arg(op, "sql", 0)
    if _noop(node, "RunSQL"):
        found.ok("RunSQL(noop)", op.lineno)
        return
    parts = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    if not parts or not all(isinstance(p, ast.Constant) and isinstance(p.value, str)
                            for p in parts):
        found.bad("RunSQL", op.lineno, "unknown effect: SQL not written as a literal")
        return
    from herotasks.core.classify import sql  # pglast: loaded only when there is SQL
    for part in parts:
        inner = sql.findings(part.value, transactional=atomic)
        if not inner.items:
            found.ok("RunSQL(no statements)", part.lineno)
        # the string's own line numbers, moved to where it starts
        found.extend(inner, offset=part.lineno - 1, prefix="RunSQL: ")


def _add_field(op: ast.Call, found: Findings) -> None:
    field = _arg(op, "field", 2)
    kind = _name(field.func) if isinstance(field, ast.Call) else None
    if not isinstance(field, ast.Call) or kind is None:
        found.bad("AddField", op.lineno, "field not read")
        return
    line = op.lineno
    if kind in NO_COLUMN_FIELDS:
        found.ok(f"AddField({kind})", line)  # a join table, or no column at all
        return
    if kind == "ForeignKey":
        if not (_is(_kwarg(field, "db_index"), False)
                and _is(_kwarg(field, "db_constraint"), False)):
            found.bad("AddField(ForeignKey)", line,
                      "builds an index and a validated foreign key under lock")
            return
    elif kind in IMPLIED:
        why, unless = IMPLIED[kind]
        if unless is None or not _is(_kwarg(field, unless[0]), unless[1]):
            found.bad(f"AddField({kind})", line, why)
            return
    elif kind in _GIS_FIELDS:
        if not _is(_kwarg(field, "spatial_index"), False):
            found.bad(f"AddField({kind})", line,
                      "spatial_index=True by default: builds a GiST index under lock")
            return
    elif kind not in PLAIN_FIELDS:
        found.bad(f"AddField({kind})", line,
                  "a custom or third-party field class: its SQL is not known")
        return
    for key in ("unique", "db_index", "primary_key"):
        if _is(_kwarg(field, key), True):
            found.bad(f"AddField({key}=True)", line, "builds an index under lock")
            return
    db_default = _kwarg(field, "db_default")
    if db_default is not None and not _is(db_default, None):
        if _volatile_db_default(db_default):
            found.bad("AddField(db_default)", line,
                      "an expression default may rewrite the table")
        else:
            found.ok("AddField(db_default)", line)
    elif _is(_kwarg(field, "null"), True) or (
            kind in _NULL_BY_DEFAULT and not _is(_kwarg(field, "null"), False)):
        found.ok("AddField(null=True)", line)
    elif _kwarg(field, "default") is not None:
        found.bad("AddField", line,
                  "NOT NULL with a Python-side default only; use db_default")
    else:
        found.bad("AddField", line, "NOT NULL without db_default")


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


def from_sql(path: str, text: str, data: dict) -> tuple[str, str, Findings]:
    """(kind, reason, findings) from the SQL Django emits for the file
    (:mod:`.emitted`): each operation's statements, read with one SQL session
    so a table created by an earlier operation is known to later ones."""
    from herotasks.core.classify import sql  # pglast: loaded only when there is SQL
    found = Findings()
    lines = _op_lines(path, text)
    ops = data.get("ops") or []
    session = sql.Session(bool(data.get("atomic", True)))
    for i, op in enumerate(ops):
        line = lines[i] if len(lines) == len(ops) else 0
        what = str(op.get("op", "operation"))[:60]
        if op.get("sql") is None:
            if op.get("noop"):
                found.ok("RunPython(noop)", line)
            else:
                found.bad(what, line, "Python, not SQL: unknown effect")
            continue
        inner = sql.findings(op["sql"], session=session)
        if not inner.items:
            found.ok(f"{what} (no SQL)", line)
        for f in inner.items:  # the operation's line in the file, not the SQL's
            found.items.append(replace(f, line=line, what=f"{what}: {f.what}"))
    if data.get("deferred"):
        inner = sql.findings(data["deferred"], session=session)
        for f in inner.items:
            found.items.append(replace(f, line=0, what=f"deferred: {f.what}"))
    kind, reason = found.verdict("no operations")
    return kind, reason, found


def _op_lines(path: str, text: str) -> list[int]:
    """The line of each top-level operation, in order (empty if unreadable)."""
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError):
        return []
    for node in ast.walk(tree):
        target, value = _assignment(node) if isinstance(node, ast.stmt) else (None, None)
        if target == "operations" and isinstance(value, (ast.List, ast.Tuple)):
            return [op.lineno for op in value.elts]
    return []
