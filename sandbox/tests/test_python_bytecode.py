"""The installed packages' bytecode (python_bytecode.py): the same ``.pyc``
files ``compileall`` writes, whether compiled now or taken from the cache a
build of other packages filled. Run as a build runs it, by an interpreter of
its own (here this one)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import marshal
import os
import subprocess
import sys
import warnings
from pathlib import Path

from herotasks_sandbox import python_bytecode

SCRIPT = Path(python_bytecode.__file__)

FILES = {
    "pkg/__init__.py": "",
    "pkg/mod.py": "def answer():\n    return 42\n\nclass K:\n    x = [i for i in range(3)]\n",
    "pkg/sub/__init__.py": "from ..mod import answer\n",
    "pkg/py2.py": "print 'vendored python 2'\n",
    "pkg/warns.py": "PATTERN = '\\d+'\n",  # an invalid escape: a SyntaxWarning only
}


def site(root: Path, mtime: int) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, (mtime, mtime))
    return root


def run(cache: Path, *roots: Path) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-I", str(SCRIPT), str(cache), *map(str, roots)],
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stderr == ""
    compiled, reused = done.stdout.split()
    return int(compiled), int(reused)


def loads_without_compiling(path: Path):
    """The code the import system takes for ``path``: from its ``.pyc``, or
    the test fails (compiling the source is refused)."""
    class NoCompile(importlib.machinery.SourceFileLoader):
        def source_to_code(self, data, path, *, _optimize=-1):
            raise AssertionError(f"{path}: its .pyc was not accepted")
    return NoCompile(path.stem, str(path)).get_code(path.stem)


def assert_like_compileall(path: Path) -> None:
    pyc = Path(importlib.util.cache_from_source(str(path))).read_bytes()
    st = path.stat()
    assert pyc[:16] == (importlib.util.MAGIC_NUMBER + b"\0\0\0\0"
                        + int(st.st_mtime).to_bytes(4, "little")
                        + st.st_size.to_bytes(4, "little"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warns.py's escape
        fresh = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    code = loads_without_compiling(path)
    assert code.co_code == fresh.co_code
    assert marshal.loads(pyc[16:]).co_consts == fresh.co_consts
    assert code.co_filename == str(path)  # the import system's own fix-up


def test_a_cold_cache_compiles_every_file_that_compiles(tmp_path):
    root = site(tmp_path / "a", 1_700_000_000)
    assert run(tmp_path / "cache", root) == (4, 0)
    for name in FILES:
        if name != "pkg/py2.py":
            assert_like_compileall(root / name)
    # as pip and uv: a file that does not compile has no .pyc, and no error
    assert not Path(importlib.util.cache_from_source(str(root / "pkg/py2.py"))).exists()


def test_another_build_of_the_same_files_takes_them_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    run(cache, site(tmp_path / "a", 1_700_000_000))
    # another build folder, other mtimes: each .pyc says its own file's
    other = site(tmp_path / "b", 1_800_000_000)
    (other / "pkg" / "new.py").write_text("NEW = True\n")
    assert run(cache, other) == (1, 4)
    for name in [*FILES, "pkg/new.py"]:
        if name != "pkg/py2.py":
            assert_like_compileall(other / name)
    # changed source is new source
    (other / "pkg" / "mod.py").write_text("def answer():\n    return 43\n")
    assert run(cache, other) == (1, 4)
    assert_like_compileall(other / "pkg" / "mod.py")
    module: dict = {}
    exec(loads_without_compiling(other / "pkg" / "mod.py"), module)
    assert module["answer"]() == 43


def test_the_cache_is_kept_per_interpreter(tmp_path):
    run(tmp_path / "cache", site(tmp_path / "a", 1_700_000_000))
    [folder] = (tmp_path / "cache").iterdir()
    assert folder.name == (f"{sys.implementation.cache_tag}-"
                           f"{importlib.util.MAGIC_NUMBER.hex()}")


def test_no_cache_folder_is_a_usage_error():
    done = subprocess.run([sys.executable, "-I", str(SCRIPT)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage:" in done.stderr
