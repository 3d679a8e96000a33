"""The installed packages' bytecode, as pip writes it by default and uv with
``--compile-bytecode`` (heroku-buildpack-python ``lib/pip.sh``, ``lib/uv.sh``),
with a machine-wide cache of the compiled code.

Run by the slug's own Python, so the ``.pyc`` files carry its magic number::

    .heroku/python/bin/python -I python_bytecode.py CACHE SITE_PACKAGES...

Every ``.py`` file under the given folders gets the ``__pycache__`` file that
``compileall`` would write: timestamp-based (the source's mtime and size in
the header), the code object compiled from the source as the import system
compiles it. A file that does not compile (vendored Python 2 code) is
skipped, as pip and uv skip it.

What differs is only how much work a build does. Heroku builds a scratch app
cold each time, and so does the sandbox; uv compiles the same 1,000 Django
files at every build, ~2 s of CPU each time, and the test suite builds the
same packages dozens of times. The compiled code depends only on the source's
bytes and the interpreter (its magic number): ``CACHE/<cache_tag>-<magic>/``
keeps it by the source's sha256, and a later build writes the same ``.pyc``
from there, with its own file's mtime and size in the header. The path
compiled into a code object (``co_filename``) is the first build's; the
import system replaces it with the module's real path when it loads the file
(``_imp._fix_co_filename``), as it does for every slug, whose files were
compiled in a build folder and run from another.

Prints ``COMPILED REUSED`` (file counts). Stdlib only: it runs on whichever
Python the app asked for.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys
import warnings


def _write(path: str, data: bytes) -> None:
    """Whole or not at all: builds of other apps share the cache."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _pyc(body: bytes, st: os.stat_result) -> bytes:
    """``importlib._bootstrap_external._code_to_timestamp_pyc``'s layout:
    magic, flags 0 (timestamp), mtime, size, then the marshalled code."""
    return (importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
            + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
            + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little") + body)


def compile_tree(cache_root: str, roots: list[str]) -> tuple[int, int]:
    """Write every ``.py`` file's ``.pyc`` under ``roots``: (compiled, reused)."""
    cache = os.path.join(cache_root, f"{sys.implementation.cache_tag}-"
                                     f"{importlib.util.MAGIC_NUMBER.hex()}")
    compiled = reused = 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                src = os.path.join(dirpath, name)
                try:
                    st = os.stat(src)
                    with open(src, "rb") as f:
                        source = f.read()
                except OSError:
                    continue
                digest = hashlib.sha256(source).hexdigest()
                entry = os.path.join(cache, digest[:2], digest[2:])
                try:
                    with open(entry, "rb") as f:
                        body = f.read()
                    reused += 1
                except FileNotFoundError:
                    try:
                        code = compile(source, src, "exec", dont_inherit=True)
                    except (SyntaxError, ValueError):
                        continue
                    body = marshal.dumps(code)
                    os.makedirs(os.path.dirname(entry), exist_ok=True)
                    _write(entry, body)
                    compiled += 1
                cfile = importlib.util.cache_from_source(src)
                os.makedirs(os.path.dirname(cfile), exist_ok=True)
                _write(cfile, _pyc(body, st))
    return compiled, reused


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print("usage: python -I python_bytecode.py CACHE [SITE_PACKAGES...]",
              file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        # as uv's compile script: a package's SyntaxWarnings are not the build's
        warnings.simplefilter("ignore")
        compiled, reused = compile_tree(argv[0], argv[1:])
    print(compiled, reused)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
