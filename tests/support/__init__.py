"""What the test tiers share: fakes, repositories, the e2e projects.

tests/unit and tests/e2e hold only test modules and their conftest.py;
anything two test modules use lives here and is imported as
``tests.support.NAME`` (pytest runs with ``--import-mode=importlib``, so
test modules never import each other).
"""

from pathlib import Path

#: The repository's root.
REPO = Path(__file__).resolve().parents[2]
