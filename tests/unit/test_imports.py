"""The product's modules import each other without circles, the product
reaches the sandbox in one place only, and no module reads the environment
at import.

Read from the source with ``ast``, so an import inside a function (a lazy
one) counts as much as one at the top: a circle closed lazily is still a
circle. Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import REPO

PACKAGE = REPO / "herotasks"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_only(tree)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                out.add(candidate if candidate in known else base)
    return {m for m in out if m in known and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            component.append(v)
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_finder_sees_a_circle_closed_by_a_lazy_import(tmp_path):
    config, steps = tmp_path / "config.py", tmp_path / "steps.py"
    config.write_text("def f():\n    from herotasks.core.steps import STEPS\n")
    steps.write_text("from typing import TYPE_CHECKING\nfrom . import config\n"
                     "if TYPE_CHECKING:\n    from .other import X\n")
    known = {"herotasks.core.config": config, "herotasks.core.steps": steps,
             "herotasks.core.other": tmp_path / "other.py"}
    edges = {name: imports(name, path, known) for name, path in known.items()
             if path.exists()} | {"herotasks.core.other": set()}
    assert edges["herotasks.core.steps"] == {"herotasks.core.config"}
    assert circles(edges) == [["herotasks.core.config", "herotasks.core.steps"]]


def test_the_product_has_no_import_circles():
    edges = graph()
    assert len(edges) > 30  # the whole package was read
    assert circles(edges) == []


def test_the_product_reaches_the_sandbox_in_one_place_only():
    users = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "herotasks_sandbox" for n in names):
                users.add(path.relative_to(REPO).as_posix())
    assert users == {"herotasks/tasks/__init__.py"}


def test_every_error_herotasks_reports_is_in_errors_py():
    """errors.py is the one hierarchy: no module defines its own."""
    import importlib
    import pkgutil

    import herotasks
    from herotasks.errors import HerotasksError

    for info in pkgutil.walk_packages(herotasks.__path__, "herotasks."):
        importlib.import_module(info.name)
    found, todo = [], [HerotasksError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    assert len(found) > 10
    assert {c.__qualname__: c.__module__ for c in found
            if c.__module__ != "herotasks.errors"} == {}


def test_the_recover_hint_is_the_command_to_type():
    from herotasks.errors import recover_hint

    assert recover_hint("production").endswith(" deploy.recover --stage production")
    assert recover_hint(None, "--force").endswith(" deploy.recover --force")
    assert recover_hint("prod", "--keep-code").split(" ", 1)[1] == \
        "deploy.recover --stage prod --keep-code"


def environ_reads_at_import(source: str) -> list[int]:
    """Lines that read the environment (``os.environ``, ``os.getenv``,
    ``environ``) in code that runs at import: the module's body and class
    bodies, not function bodies."""
    lines: list[int] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if (isinstance(child, ast.Attribute) and child.attr in ("environ", "getenv")
                    or isinstance(child, ast.Name) and child.id in ("environ", "getenv")):
                lines.append(child.lineno)
            visit(child)

    visit(ast.parse(source))
    return lines


def test_the_checker_sees_a_read_at_import_and_not_one_in_a_function():
    assert environ_reads_at_import("import os\nX = os.environ.get('X')\n") == [2]
    assert environ_reads_at_import("class C:\n    y = os.getenv('Y')\n") == [2]
    assert environ_reads_at_import("def f():\n    return os.environ['X']\n") == []


def test_no_module_reads_the_environment_at_import():
    """What each run reads from its environment, it reads when it runs: the
    e2e tier forks its `inv` runs from a process that imported the product
    once, under its own environment (tests/support/invfork.py)."""
    found = {name: lines for name, path in modules().items()
             if (lines := environ_reads_at_import(path.read_text()))}
    assert found == {}
