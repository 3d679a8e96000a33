"""Where streamed output goes: a callable or anything with ``write``."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Union

Output = Union[Callable[[str], object], IO[str]]


def as_writer(out: Output) -> Callable[[str], None]:
    """A function that writes text to ``out`` and flushes it when it can.

    Flushing per chunk is the point of streaming: a build or migration log must
    show up while it runs, not when the buffer fills.
    """
    write = getattr(out, "write", None)
    if write is None:
        if not callable(out):
            raise TypeError(f"output must be callable or have write(): {out!r}")
        return out  # type: ignore[return-value]
    flush = getattr(out, "flush", None)

    def writer(text: str) -> None:
        write(text)
        if flush is not None:
            flush()

    return writer
