"""Build an example's git history: tally's eight commits tagged v1 to v8,
ledger's five tagged v1 to v5.

    python examples/make_repo.py DEST              # tally, the Django app
    python examples/make_repo.py --app ledger DEST # ledger, the Rails app

The versions are stored as a base tree (v1) plus overlays that hold only the
files each later version changes, so this repository keeps one copy of the
app. The project's deploy settings (`<app>/invoke.yaml`) and its `tasks.py`
go into the first commit.

Author, committer and dates are fixed and the user's git configuration is
ignored, so two runs produce the same commit ids.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
TALLY = EXAMPLES / "tally"

# (overlay directory under tally/, tag, commit message)
VERSIONS = [
    ("base", "v1", "Count visits: a web page queues jobs, a worker counts them"),
    ("v2", "v2", "Remember who visited: a User-Agent column on jobs and visits"),
    ("v3", "v3", "Reword the page"),
    ("v4", "v4", "Remember where visits came from: nullable Referer columns"),
    ("v5", "v5", "Break every page (a release the health check must roll back)"),
    ("v6", "v6", "Forget where visits came from: drop the Referer columns (a contract)"),
    ("v7", "v7", "Break every page after 200 requests (a fault only traffic shows)"),
    ("v8", "v8", "Forget who visited: drop the NOT NULL User-Agent columns (a contract)"),
]
# The Rails app: additive migration, destructive one, code only, broken.
LEDGER_VERSIONS = [
    ("base", "v1", "Count visits: a web page queues jobs, a worker counts them"),
    ("v2", "v2", "Remember where visits came from: nullable referrer columns"),
    ("v3", "v3", "Forget referrers: drop the columns (a destructive migration)"),
    ("v4", "v4", "Reword the page"),
    ("v5", "v5", "Break every page (a release the health check must roll back)"),
]
APPS = {"tally": VERSIONS, "ledger": LEDGER_VERSIONS}
# Build leftovers that may sit in the example folders if someone ran the app
# there; they are never part of a version.
# (The ledger's own .gitignore keeps its vendor/bundle, public/assets and logs
# out.)
LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.pyc", "staticfiles", "*.sqlite3*")


def git_env(day: int) -> dict[str, str]:
    """Environment for one commit: fixed identity and date, no user config."""
    stamp = f"2025-01-{day:02d}T12:00:00+00:00"
    # An inherited GIT_DIR or GIT_INDEX_FILE (say, from a hook) would point
    # git at another repository.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return clean | {
        "GIT_AUTHOR_NAME": "Tally Example",
        "GIT_AUTHOR_EMAIL": "tally@example.invalid",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": "Tally Example",
        "GIT_COMMITTER_EMAIL": "tally@example.invalid",
        "GIT_COMMITTER_DATE": stamp,
        # A signing key, hooks template or default branch in the user's config
        # would change the result or stop it.
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def git(dest: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=dest, env=env, check=True, stdout=subprocess.DEVNULL
    )


def make_repo(dest: Path, app: str = "tally") -> None:
    """Create the repository at `dest`, which must not exist or be empty."""
    source = EXAMPLES / app
    dest.mkdir(parents=True, exist_ok=True)
    git(dest, git_env(1), "init", "--quiet", "--initial-branch=main")
    for day, (overlay, tag, message) in enumerate(APPS[app], start=1):
        env = git_env(day)
        shutil.copytree(source / overlay, dest, dirs_exist_ok=True, ignore=LEFTOVERS)
        if tag == "v1":
            for name in ("invoke.yaml", "tasks.py"):
                shutil.copy(source / name, dest / name)
        # Stage from content, not from the index's stat cache. copytree keeps
        # the source files' mtimes, so an overlay file with the same size as the
        # one it replaces (version.py: "v1" -> "v2") can look unchanged to git
        # when both were checked out in the same second, as in a fresh clone;
        # v2 then silently kept v1's file. Emptying the index first makes git
        # hash every file.
        git(dest, env, "rm", "-r", "--cached", "--quiet", "--ignore-unmatch", ".")
        git(dest, env, "add", "--all")
        git(dest, env, "commit", "--quiet", "-m", f"{tag}: {message}")
        git(dest, env, "tag", tag)


def main(argv: list[str]) -> int:
    app = "tally"
    if len(argv) == 3 and argv[0] == "--app" and argv[1] in APPS:
        app, argv = argv[1], argv[2:]
    if len(argv) != 1 or argv[0].startswith("-"):
        print(
            "usage: python examples/make_repo.py [--app tally|ledger] DEST"
            "  (DEST: a new or empty folder)",
            file=sys.stderr,
        )
        return 2
    dest = Path(argv[0]).resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        print(
            f"make_repo: {dest} exists and is not an empty folder; choose a new path",
            file=sys.stderr,
        )
        return 2
    if shutil.which("git") is None:
        print("make_repo: git is not on PATH; install git and retry", file=sys.stderr)
        return 2
    make_repo(dest, app)
    print(f"{app} example repository with tags v1 to v{len(APPS[app])} at {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
