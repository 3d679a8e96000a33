"""The no-window way through a rename or a type change, over several deploys.

A rename or a type change stays window-class: the old code reads the old
name or type, the new code the new one, and during a deploy both run. The
way without a window is the expand/contract sequence (strong_migrations,
"Renaming a column" and "Changing the type of a column"; GitLab's "Avoiding
downtime in migrations", "Renaming columns"): add the new column, write
both, backfill, read the new, drop the old, one deploy each. Each of those
deploys is online or contract by herotasks' own rules, so none takes a
window. ``deploy.plan`` prints it under the file, naming the files the user
would write next to it.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

#: findings that make a file a rename or a type change
_RENAME = re.compile(r"RENAME COLUMN|RenameField|rename_column|RENAME TABLE|"
                     r"RenameModel|rename_table|alter_column\(new_column_name")
_TYPE = re.compile(r"ALTER COLUMN TYPE|AlterField|change_column\b|op\.alter_column")


def kind_of(verdict: Any) -> str | None:
    """"rename", "type change" or None, from the finding that decided."""
    decided = getattr(verdict, "decided_by", None)
    if decided is None:
        return None
    if _RENAME.search(decided.what):
        return "rename"
    if _TYPE.search(decided.what):
        return "type change"
    return None


def files(path: str) -> dict[str, str]:
    """The files the user would write, next to ``path``, in its naming."""
    folder, name = posixpath.split(path)
    if path.endswith(".rb"):  # Rails: a timestamp each, the contract post-deploy
        post = (folder.rsplit("/", 1)[0] + "/post_migrate") if folder.endswith(
            "db/migrate") else folder
        return {"add": f"{folder}/<timestamp>_add_<new>.rb",
                "backfill": f"{folder}/<timestamp>_backfill_<new>.rb",
                "drop": f"{post}/<timestamp>_remove_<old>.rb"}
    if path.endswith(".sql"):
        return {"add": f"{folder}/<next>_add_<new>.sql",
                "backfill": f"{folder}/<next>_backfill_<new>.sql",
                "drop": f"{folder}/<next>_drop_<old>.sql"}
    number = re.match(r"\d+", name)
    if number:  # Django: numbered per app
        n = int(number.group(0))
        width = len(number.group(0))
        return {"add": f"{folder}/{n:0{width}d}_add_<new>.py",  # in its place
                "backfill": f"{folder}/{n + 1:0{width}d}_backfill_<new>.py",
                "drop": f"{folder}/{n + 2:0{width}d}_remove_<old>.py"}
    return {"add": f"{folder}/<rev>_add_<new>.py",  # Alembic: a revision id each
            "backfill": f"{folder}/<rev>_backfill_<new>.py",
            "drop": f"{folder}/<rev>_drop_<old>.py"}


def lines(verdict: Any) -> list[str]:
    """The recipe for a window file that renames or changes a type (empty
    for any other file)."""
    what = kind_of(verdict)
    if what is None:
        return []
    f = files(verdict.path)
    table = what == "rename" and bool(re.search(r"TABLE|Model|table", verdict.decided_by.what))
    thing = "table" if table else "column"
    new = f"the new {thing}" if what == "rename" else "a column of the new type"
    return [
        f"            no window for this {what}, over five deploys instead of "
        f"{verdict.path}:",
        f"              1. add {new}" + ("" if table else ", nullable")
        + f": {f['add']} (online)",
        f"              2. the code writes both the old and the new {thing}"
        + ("" if table else "; the old made nullable in the same migration "
           "(DROP NOT NULL, online)"),
        f"              3. backfill the new from the old in batches: {f['backfill']} "
        "(mark it `herotasks: online` once batched)",
        f"              4. the code reads the new {thing} only, and no longer "
        "names the old (no migration)",
        f"              5. drop the old: {f['drop']} (after: a contract, no window"
        + ("" if table else "; mark it `herotasks: after` once the old is nullable")
        + ")",
    ]
