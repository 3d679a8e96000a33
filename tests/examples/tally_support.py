"""Helpers for the tally example tests.

The module name is unique on purpose: tests/ has no packages, so pytest puts
each test folder on sys.path and a common name could load another folder's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKE_REPO = ROOT / "examples" / "make_repo.py"


def make_repo(dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MAKE_REPO), str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()
