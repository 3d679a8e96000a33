"""uv options for the package index this machine's pip is configured with.

uv reads none of pip's settings. The sandbox's Python buildpack runs uv and
must reach the same index pip would (on this machine: local folders and
indexes), and so must ``scripts/bootstrap``, which installs the project
with uv before anything of the sandbox is importable: it runs this file as
a script (stdlib only, no package imports), one option per line.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys


@functools.lru_cache(maxsize=1)
def index_options(pip_python: str = sys.executable) -> tuple[str, ...]:
    """uv options for the package index this machine's pip is configured
    with (``pip config list``: index-url, extra-index-url, find-links, and
    the ``PIP_*`` variables); local folders that do not exist are left out,
    uv would refuse them."""
    try:
        done = subprocess.run([pip_python, "-m", "pip", "config", "list"],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        listing = done.stdout if done.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    settings: dict[str, str] = {}
    for line in listing.splitlines():
        m = re.match(r"^[^.]*\.([\w-]+)='(.*)'$", line.strip())
        if m:
            settings[m[1].replace("_", "-")] = m[2]
    opts: list[str] = []
    for key, flag in (("index-url", "--index-url"),
                      ("extra-index-url", "--extra-index-url"),
                      ("find-links", "--find-links")):
        for value in settings.get(key, "").split():
            if value.startswith("file://") and not os.path.isdir(value[7:]):
                continue
            if not re.match(r"^[a-z+]+://", value) and not os.path.isdir(value):
                continue
            opts += [flag, value]
    if "--extra-index-url" in opts:
        # pip takes the best match from all its indexes; uv's default is the
        # first index that has the package.
        opts += ["--index-strategy", "unsafe-best-match"]
    return tuple(opts)


if __name__ == "__main__":
    print("\n".join(index_options()))
