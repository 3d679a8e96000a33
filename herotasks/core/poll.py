"""How herotasks waits for Heroku: polls that start brisk and slow down.

Every poll is one Platform API request, and the account's 4500 tokens
(refilled at ~75 a minute) are shared with the CLI, CI and dashboards. So
herotasks never polls faster than every couple of seconds, and a wait that
lasts grows its pause towards the 10 s the official CLI's ``ps:wait``
allows at the least (heroku/cli ``commands/ps/wait.ts``, ``--wait-interval``
"must be at least 10"): a long build or boot costs a few requests more, not
a few hundred.
"""

from __future__ import annotations

from typing import Iterator


def pauses(first: float = 2.0, most: float = 10.0, grow: float = 1.5) -> Iterator[float]:
    """Seconds to sleep before each next poll: ``first``, growing by
    ``grow`` each time, never above ``most``."""
    pause = first
    while True:
        yield pause
        pause = min(pause * grow, most)
