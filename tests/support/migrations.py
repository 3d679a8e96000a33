"""Migration files as the frameworks write them, for the classifier's tests."""

from __future__ import annotations

import textwrap


def rails(body: str, *, version: str = "7.1", before: str = "") -> str:
    """A migration as ``rails generate migration`` writes it."""
    return (f"class AddNoteToCounters < ActiveRecord::Migration[{version}]\n"
            f"{before}"
            + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ") + "\nend\n")


def change(*lines: str) -> str:
    return "def change\n" + "\n".join("  " + line for line in lines) + "\nend"


NO_TX = "  disable_ddl_transaction!\n\n"
