"""The sandbox: a local Heroku to rehearse deploys on (``sandbox.*``).

``sandbox.up`` starts it in the background and writes ``ROOT/env``; after
``source ROOT/env`` the official heroku CLI, git and herotasks talk to the
sandbox only. Config: ``herotasks_sandbox.root`` (default
``.herotasks/sandbox``).
"""

from __future__ import annotations

from invoke import Collection, task
from invoke.exceptions import Exit

DEFAULTS = {"sandbox": {"root": ".herotasks/sandbox"}}


def _root(c, root):
    return root or c.config.get("herotasks", {}).get("sandbox", {}).get("root") \
        or DEFAULTS["sandbox"]["root"]


@task(help={"root": "state directory (default .herotasks/sandbox)",
            "port": "API port on 127.0.0.1 (default: the last one, else a free one)"})
def up(c, root=None, port=None):
    """Start the sandbox in the background and write ROOT/env."""
    from herotasks_sandbox import daemon

    try:
        port = daemon.port_number(str(port or 0))
    except ValueError as exc:
        raise Exit(f"sandbox.up: --port: {exc}; give a number from 1 to 65535",
                   code=2) from None
    try:
        st = daemon.up(_root(c, root), port=port)
    except daemon.SandboxError as exc:
        raise Exit(f"sandbox.up: {exc}", code=1) from None
    print(st.describe())


@task(help={"root": "state directory (default .herotasks/sandbox)"})
def down(c, root=None):
    """Stop the sandbox and every dyno it runs."""
    from herotasks_sandbox import daemon

    stopped = daemon.down(_root(c, root))
    print("sandbox: stopped" if stopped else "sandbox: was not running")


@task(help={"root": "state directory (default .herotasks/sandbox)"})
def status(c, root=None):
    """Say whether the sandbox runs, where, and where its env file is."""
    from herotasks_sandbox import daemon

    st = daemon.status(_root(c, root))
    print(st.describe())
    if not st.running:
        raise Exit(code=3)


ns = Collection(up, down, status)
ns.configure({"herotasks": DEFAULTS})
