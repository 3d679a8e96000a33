"""The sandbox's token bucket on a hand-driven clock (no waiting)."""

from __future__ import annotations

from herotasks_sandbox.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_starts_full_and_refuses_when_empty():
    bucket = TokenBucket(capacity=2, per_minute=60, clock=Clock())
    assert [bucket.take(), bucket.take(), bucket.take()] == [1, 0, None]
    assert bucket.remaining() == 0


def test_refills_at_its_rate_up_to_its_size():
    clock = Clock()
    bucket = TokenBucket(capacity=3, per_minute=60, clock=clock)  # one a second
    for _ in range(3):
        bucket.take()
    clock.now = 1.5
    assert bucket.remaining() == 1
    clock.now = 100
    assert bucket.remaining() == 3


def test_herokus_numbers_by_default():
    clock = Clock()
    bucket = TokenBucket(clock=clock)
    assert bucket.capacity == 4500 and bucket.remaining() == 4500
    for _ in range(75):
        bucket.take()
    clock.now = 60  # ~75 tokens a minute come back
    assert bucket.remaining() == 4500


def test_configure_shrinks_or_refills():
    bucket = TokenBucket(capacity=10, per_minute=0, clock=Clock())
    bucket.configure(capacity=2)
    assert bucket.remaining() == 2
    bucket.take()
    bucket.configure(capacity=5)
    assert bucket.remaining() == 5
