"""The ``herotasks`` console script: the whole collection, no tasks.py needed.

It is invoke's own ``Program`` over :data:`herotasks.tasks.ns`, so it reads
the same ``invoke.yaml`` and ``INVOKE_*`` variables as ``inv`` does, and
``herotasks --list`` shows every task, with a ``deploy.<stage>`` task for
each stage the project configures. Without the ``[sandbox]`` extra there are
no ``sandbox.*`` tasks, and asking for one says in one line what to install.

A config file or variable that invoke cannot load is one line, not a
traceback: :mod:`herotasks.load_errors`.
"""

from __future__ import annotations

import os
import sys

from invoke import Program
from invoke.exceptions import Exit, ParseError

from herotasks import __version__
from herotasks.errors import ConfigError
from herotasks.load_errors import explain_load_error
from herotasks.tasks import SANDBOX_MISSING


class HerotasksProgram(Program):
    def parse_collection(self):
        super().parse_collection()
        # Given a namespace, invoke skips the search for tasks.py and with it
        # the project config beside it: load ./invoke.yaml ourselves.
        self.config.set_project_location(os.getcwd())
        self.config.load_project()
        from herotasks.tasks.deploy import add_stages, configured_stages

        try:
            add_stages(self.collection, configured_stages(self.config))
        except ConfigError:
            pass  # the deploy tasks report a bad stage config themselves

    def parse_tasks(self):
        try:
            super().parse_tasks()
        except ParseError:
            self._no_sandbox(self.core.unparsed)
            raise

    def parse_cleanup(self):
        try:
            super().parse_cleanup()
        except ParseError:  # --help TASK
            self._no_sandbox([str(self.args.help.value)])
            raise

    def _no_sandbox(self, args: list[str]) -> None:
        """invoke would say "No idea what 'sandbox.up' is!"; say why."""
        if "sandbox" not in self.collection.collections and any(
                arg == "sandbox" or arg.startswith("sandbox.") for arg in args):
            raise Exit(f"herotasks: {SANDBOX_MISSING}", code=1)

    def run(self, argv=None, exit: bool = True) -> None:
        try:
            super().run(argv, exit)
        except Exception as exc:  # noqa: BLE001 - only config errors are kept
            error = explain_load_error(exc, getattr(self, "config", None))
            if error is None:
                raise
            if not exit:
                raise error from None
            print(f"herotasks: {error}", file=sys.stderr)
            sys.exit(1)

def main() -> None:
    from herotasks.tasks import collection

    HerotasksProgram(namespace=collection(), version=__version__, name="herotasks",
                     binary="herotasks").run()


if __name__ == "__main__":
    main()
