"""The picker's wait queue: requests no endpoint can take now wait here, highest priority first.

Pure bookkeeping (the caller supplies the clock): the Endpoint Picker parks saturated requests
here until an endpoint frees up, and the fleet simulation does the same in simulated time, so
both shed and admit alike. Bounded twice: a request waits at most `max_wait_s` (it must be
answered before the data plane gives up on the picker), and at most `max_length` wait; when full,
a newcomer of higher priority takes the place of the newest lowest-priority one, never the reverse.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["WaitQueue", "DEFAULT_MAX_WAIT_S", "DEFAULT_MAX_LENGTH"]

T = TypeVar("T")

DEFAULT_MAX_WAIT_S = 4.0
"""Within the 5 s ext_proc message timeout the rendered Envoy gives the picker (epp/bootstrap.py)."""
DEFAULT_MAX_LENGTH = 1000


class WaitQueue(Generic[T]):
    """FIFO per priority; `head` is the oldest request of the highest priority."""

    def __init__(self, *, max_wait_s: float = DEFAULT_MAX_WAIT_S, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s: must be >= 0, got {max_wait_s}")
        if max_length < 0:
            raise ValueError(f"max_length: must be >= 0, got {max_length}")
        self.max_wait_s = max_wait_s
        self.max_length = max_length
        self._by_priority: dict[int, deque[tuple[float, T]]] = {}
        self._order: list[int] = []  # priorities present, highest first
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def push(self, item: T, priority: int, now: float) -> tuple[bool, T | None]:
        """Queue item; returns (queued, the item it displaced or None). (False, None): full, item not queued."""
        if self.max_length == 0 or self.max_wait_s == 0:
            return False, None
        evicted: T | None = None
        if self._len >= self.max_length:
            lowest = self._order[-1]
            if lowest >= priority:
                return False, None
            evicted = self._by_priority[lowest].pop()[1]
            self._shrink(lowest)
        q = self._by_priority.get(priority)
        if q is None:
            q = self._by_priority[priority] = deque()
            self._order.append(priority)
            self._order.sort(reverse=True)
        q.append((now, item))
        self._len += 1
        return True, evicted

    def head(self) -> tuple[T, int] | None:
        """The next request to place, with its priority (None when empty)."""
        if not self._order:
            return None
        p = self._order[0]
        return self._by_priority[p][0][1], p

    def pop(self) -> T:
        """Remove and return the head."""
        p = self._order[0]
        item = self._by_priority[p].popleft()[1]
        self._shrink(p)
        return item

    def remove(self, item: T) -> bool:
        """Drop a request that went away (its client cancelled); True if it was queued."""
        for p, q in self._by_priority.items():
            for entry in q:
                if entry[1] is item:
                    q.remove(entry)
                    self._shrink(p)
                    return True
        return False

    def expire(self, now: float) -> list[T]:
        """Remove and return every request that has waited longer than `max_wait_s`."""
        out: list[T] = []
        limit = now - self.max_wait_s
        for p in list(self._order):
            q = self._by_priority[p]
            while q and q[0][0] < limit:
                out.append(q.popleft()[1])
                self._len -= 1
            if not q:
                del self._by_priority[p]
                self._order.remove(p)
        return out

    def __iter__(self) -> Iterator[T]:
        for p in self._order:
            for _, item in self._by_priority[p]:
                yield item

    def _shrink(self, p: int) -> None:
        self._len -= 1
        if not self._by_priority[p]:
            del self._by_priority[p]
            self._order.remove(p)
