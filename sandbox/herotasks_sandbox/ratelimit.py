"""Heroku's API rate limit, as a token bucket.

Heroku gives each account a pool of at most 4500 request tokens; every API
call takes one, and tokens come back at roughly 75 a minute. With the pool
empty, calls answer ``429`` (``id: rate_limit``) until a token is back, and
every response says what is left in ``RateLimit-Remaining`` (Dev Center,
"Platform API Reference", section Rate Limits). Heroku documents no
``Retry-After`` on that 429, so none is sent here; the fault interface can add
one.

Size and refill rate are admin settings so a test can empty the bucket in a
few calls instead of 4500. It lives in memory: a restart fills it again.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

CAPACITY = 4500
PER_MINUTE = 75.0


class TokenBucket:
    def __init__(self, capacity: int = CAPACITY, per_minute: float = PER_MINUTE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.capacity = int(capacity)
        self.per_minute = float(per_minute)
        self._tokens = float(capacity)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity,
                           self._tokens + (now - self._at) * self.per_minute / 60)
        self._at = now

    def take(self) -> int | None:
        """Spend a token: what is left afterwards, or None when none was left."""
        with self._lock:
            self._refill()
            if self._tokens < 1:
                return None
            self._tokens -= 1
            return int(self._tokens)

    def remaining(self) -> int:
        """Whole tokens left now, without spending one."""
        with self._lock:
            self._refill()
            return int(self._tokens)

    def configure(self, capacity: int | None = None,
                  per_minute: float | None = None) -> None:
        """Change size or rate; a smaller bucket loses what no longer fits,
        a bigger one starts full (as a fresh account would)."""
        with self._lock:
            self._refill()
            if capacity is not None:
                if capacity > self.capacity:
                    self._tokens = float(capacity)
                self.capacity = int(capacity)
                self._tokens = min(self._tokens, self.capacity)
            if per_minute is not None:
                self.per_minute = float(per_minute)
