"""``python -m herotasks_sandbox``: run the sandbox in the foreground.

Writes ``ROOT/env`` and ``ROOT/sandbox.json`` once it listens, and stops
its dynos on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from . import daemon


def _port_arg(text: str) -> int:
    try:
        return daemon.port_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m herotasks_sandbox",
        description="Run the herotasks sandbox (a local Heroku) in the foreground.")
    parser.add_argument("--root", default=str(daemon.DEFAULT_ROOT),
                        help="state directory (default: %(default)s)")
    parser.add_argument("--port", type=_port_arg, default=0,
                        help="API port on 127.0.0.1 (default: the last one, else free)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=root / "logs" / "server.log", level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from .server import Sandbox

    try:
        sandbox = Sandbox(root, port=args.port)
    except OSError as exc:
        print(f"sandbox: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}; "
              "choose another --port", file=sys.stderr)
        return 1

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    daemon.write_env(root, daemon.env_lines(root, sandbox.url, sandbox.api_key,
                                            sandbox.tls.ca_path, sandbox.admin_token))
    sandbox.start()
    daemon.write_info(root, sandbox.url)
    print(f"sandbox: listening on {sandbox.url} (env file {root / 'env'})", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
