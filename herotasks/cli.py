"""The ``herotasks`` console script: the whole collection, no tasks.py needed.

It is invoke's own ``Program`` over :data:`herotasks.tasks.ns`, so it reads
the same ``invoke.yaml`` and ``INVOKE_*`` variables as ``inv`` does, and
``herotasks --list`` shows every task.
"""

from __future__ import annotations

from invoke import Program

from herotasks import __version__


def main() -> None:
    from herotasks.tasks import ns

    Program(namespace=ns, version=__version__, name="herotasks",
            binary="herotasks").run()


if __name__ == "__main__":
    main()
