"""The ``herotasks`` console script: the whole collection, no tasks.py needed.

It is invoke's own ``Program`` over :data:`herotasks.tasks.ns`, so it reads
the same ``invoke.yaml`` and ``INVOKE_*`` variables as ``inv`` does, and
``herotasks --list`` shows every task, with a ``deploy.<stage>`` task for
each stage the project configures.
"""

from __future__ import annotations

import os

from invoke import Program

from herotasks import __version__
from herotasks.errors import ConfigError


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


def main() -> None:
    from herotasks.tasks import collection

    HerotasksProgram(namespace=collection(), version=__version__, name="herotasks",
                     binary="herotasks").run()


if __name__ == "__main__":
    main()
