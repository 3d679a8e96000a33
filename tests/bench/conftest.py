"""Make the repository's top-level `bench` package importable from these tests.

tests/ holds no packages (pytest's default import mode puts each test folder
on sys.path, not the repository root), and bench/ is not installed.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
