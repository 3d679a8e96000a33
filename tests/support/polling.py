"""Polling for tests: wait for a condition with a deadline that bounds a hang.

Plain module (not a fixture) so test files and conftest share one copy;
pytest puts ``tests/`` on ``sys.path`` for the root conftest.
"""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0,
               interval: float = 0.1, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail the test
    (naming ``what``) when it never is. Deadlines are generous on purpose:
    they bound a hang, they do not measure speed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
