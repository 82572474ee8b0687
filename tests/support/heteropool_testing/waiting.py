"""Waiting on a condition with a deadline: how tests and benchmarks synchronise with processes they
started, never by sleeping a fixed time. The pause between probes only paces the polling."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T],
    what: str,
    *,
    timeout_s: float = 10.0,
    done: Callable[[T], object] = bool,
    interval_s: float = 0.02,
) -> T:
    """Re-probe until `done(result)` (default: the result is truthy) and return that result.

    Raises:
        AssertionError: not done within `timeout_s`; the message names `what` and the last result.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last: {result!r}")
        time.sleep(interval_s)


async def await_until(
    probe: Callable[[], Awaitable[T]],
    what: str,
    *,
    timeout_s: float = 10.0,
    done: Callable[[T], object] = bool,
    interval_s: float = 0.02,
) -> T:
    """`wait_until` for an async probe, yielding to the event loop between probes."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last: {result!r}")
        await asyncio.sleep(interval_s)


class JsonLines:
    """A growing file of JSON lines (what `heteropool weights` prints), read one new line at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = 0

    def _lines(self) -> list[str]:
        return [ln for ln in self.path.read_text().splitlines() if ln.startswith("{")] if self.path.exists() else []

    def skip(self) -> None:
        """Count every line written so far as read."""
        self.seen = len(self._lines())

    async def next(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """The first line not read yet, once it is written."""

        async def unread() -> list[str]:
            return self._lines()[self.seen : self.seen + 1]

        (line,) = await await_until(unread, f"a new line in {self.path}", timeout_s=timeout_s)
        self.seen += 1
        return json.loads(line)  # type: ignore[no-any-return]
