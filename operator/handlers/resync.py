"""Re-converge pools whose children changed, coalescing bursts of child events into one pass.

A rollout produces dozens of Deployment events; each only marks its pool as due. One background
task converges due pools one at a time and writes status only when it changed. Retryable API
errors put the pool back after a delay (exponential, capped), so nothing is lost and nothing spins;
a pass can also ask to run again after a delay (a referenced Secret is still missing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from heteropool.handlers.errors import retry_delay_s
from heteropool.handlers.kube import KubeApiError

__all__ = ["ResyncQueue"]

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, pool name)


class ResyncQueue:
    """A set of due pools and the task that works it off."""

    def __init__(self, resync: Callable[[str, str], Awaitable[float | None]], *, max_delay_s: float = 30.0) -> None:
        self._resync = resync
        self._due: set[Key] = set()
        self._wake = asyncio.Event()
        self._failures: dict[Key, int] = {}
        self._max_delay_s = max_delay_s
        self._retries: dict[Key, asyncio.TimerHandle] = {}

    def request(self, namespace: str, name: str) -> None:
        self._due.add((namespace, name))
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            due, self._due = self._due, set()
            for key in sorted(due):
                await self._one(key)

    async def _one(self, key: Key) -> None:
        try:
            again_after_s = await self._resync(*key)
        except KubeApiError as exc:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = retry_delay_s(exc, failures)
            logger.warning("resync of %s/%s failed (%s); retrying in %.1fs", *key, exc, delay)
            self._retry_later(key, delay)
        except Exception:  # never let one pool stop the worker
            logger.exception("resync of %s/%s failed", *key)
            self._retry_later(key, self._max_delay_s)
        else:
            self._failures.pop(key, None)
            if again_after_s is not None:
                self.request_later(*key, again_after_s)

    def request_later(self, namespace: str, name: str, delay_s: float) -> None:
        """Mark the pool due after `delay_s` (replacing an earlier pending request)."""
        self._retry_later((namespace, name), delay_s)

    def _retry_later(self, key: Key, delay_s: float) -> None:
        previous = self._retries.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._retries[key] = asyncio.get_running_loop().call_later(delay_s, self.request, *key)

    def close(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
