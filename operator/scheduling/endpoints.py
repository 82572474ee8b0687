"""The gateway's live endpoint table: load counters, scraped state, ejection, snapshots.

A mutation only marks the endpoint's frozen `EndpointView` stale; the snapshot is rebuilt at the
next decision that looks at it, so a request costs at most one rebuild, not one per counter change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from heteropool.routing import EndpointEntry, EndpointView

__all__ = ["EndpointState", "EndpointPool", "DEFAULT_BLOCK_SIZE"]

DEFAULT_BLOCK_SIZE = 16


@dataclass(slots=True)
class EndpointState:
    """Mutable bookkeeping for one endpoint; `view` is its current immutable snapshot."""

    url: str
    group: str
    base: EndpointView
    in_flight: int = 0
    queued_prompt_tokens: int = 0
    queued_prefill_tokens: int = 0
    consecutive_failures: int = 0
    ejected_until: float = 0.0
    ejections: int = 0
    routed: int = 0
    running: int | None = None
    waiting: int | None = None
    kv_usage: float | None = None
    _view: EndpointView | None = None

    @property
    def view(self) -> EndpointView:
        """The current snapshot, rebuilt only after a counter changed (not on every decision)."""
        v = self._view
        if v is None:
            b = self.base
            v = self._view = EndpointView(
                b.id,
                b.group,
                b.block_size,
                b.capacity_tokens_per_s,
                b.capacity_multiplier,
                b.kv_capacity_tokens,
                b.prefill_tokens_per_s,
                self.in_flight,
                self.queued_prompt_tokens,
                self.queued_prefill_tokens,
                self.running,
                self.waiting,
                self.kv_usage,
            )
        return v


class EndpointPool:
    """Endpoints keyed by URL, with gateway-counted load and outlier ejection.

    Args:
        clock: monotonic seconds (injected for tests).
        eject_after_failures: consecutive failures (connect error, 5xx) that eject an endpoint.
        eject_s: how long an ejected endpoint is skipped unless a probe brings it back first.
        max_in_flight: per-endpoint cap; an endpoint at the cap takes no new request.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        eject_after_failures: int = 3,
        eject_s: float = 10.0,
        max_in_flight: int = 1024,
    ) -> None:
        self._clock = clock
        self._eject_after = eject_after_failures
        self._eject_s = eject_s
        self.max_in_flight = max_in_flight
        self._states: dict[str, EndpointState] = {}

    # --- membership -------------------------------------------------------------------------
    def apply(self, entries: Iterable[EndpointEntry]) -> tuple[list[str], list[str]]:
        """Replace the endpoint set; keeps counters of endpoints that stay. Returns (added, removed)."""
        views: dict[str, EndpointView] = {}
        for e in entries:
            url = e.url.rstrip("/")
            views[url] = EndpointView(
                id=url,
                group=e.group,
                block_size=e.block_size or DEFAULT_BLOCK_SIZE,
                capacity_tokens_per_s=e.capacity,
                capacity_multiplier=e.capacity_multiplier,
                prefill_tokens_per_s=e.prefill_tokens_per_s,
            )
        return self.apply_views(views.values())

    def apply_views(self, views: Iterable[EndpointView]) -> tuple[list[str], list[str]]:
        """`apply` with ready-made views keyed by their `id` (the fleet simulation's endpoints)."""
        wanted = {v.id: v for v in views}
        removed = [u for u in self._states if u not in wanted]
        for u in removed:
            del self._states[u]
        added: list[str] = []
        for url, base in wanted.items():
            st = self._states.get(url)
            if st is None:
                self._states[url] = EndpointState(url=url, group=base.group, base=base)
                added.append(url)
            else:
                st.group = base.group
                st.base = base
                st._view = None
        return added, removed

    def urls(self) -> list[str]:
        return list(self._states)

    def get(self, url: str) -> EndpointState | None:
        return self._states.get(url)

    def states(self) -> Sequence[EndpointState]:
        return list(self._states.values())

    # --- decisions --------------------------------------------------------------------------
    def candidates(self, exclude: Iterable[str] = ()) -> tuple[list[EndpointView], bool]:
        """Views of endpoints that may take a request now, and whether any was skipped as full."""
        now = self._clock()
        cap = self.max_in_flight
        skip = set(exclude)
        out: list[EndpointView] = []
        full = False
        for st in self._states.values():
            if st.ejected_until > now or st.url in skip:
                continue
            if st.in_flight >= cap:
                full = True
                continue
            out.append(st.view)
        return out, full

    def ready(self) -> bool:
        now = self._clock()
        return any(st.ejected_until <= now for st in self._states.values())

    # --- load accounting --------------------------------------------------------------------
    def acquire(self, url: str, prompt_tokens: int, prefill_tokens: int | None = None) -> None:
        """A request was sent to url: `prefill_tokens` is the part of its prompt expected uncached
        there (the router's prefix estimate; None: all of it)."""
        st = self._states.get(url)
        if st is None:
            return
        st.in_flight += 1
        st.routed += 1
        st.queued_prompt_tokens += prompt_tokens
        st.queued_prefill_tokens += prompt_tokens if prefill_tokens is None else prefill_tokens
        st._view = None

    def first_token(self, url: str, prompt_tokens: int, prefill_tokens: int | None = None) -> None:
        """The endpoint started answering: its prompt is no longer queued (`acquire`'s amounts)."""
        st = self._states.get(url)
        if st is None:
            return
        if prompt_tokens or prefill_tokens:
            self._dequeue(st, prompt_tokens, prompt_tokens if prefill_tokens is None else prefill_tokens)

    def release(
        self, url: str, prompt_tokens_still_queued: int, prefill_tokens_still_queued: int | None = None
    ) -> None:
        st = self._states.get(url)
        if st is None:
            return
        st.in_flight = max(0, st.in_flight - 1)
        still = prompt_tokens_still_queued if prefill_tokens_still_queued is None else prefill_tokens_still_queued
        self._dequeue(st, prompt_tokens_still_queued, still)

    @staticmethod
    def _dequeue(st: EndpointState, prompt_tokens: int, prefill_tokens: int) -> None:
        st.queued_prompt_tokens = max(0, st.queued_prompt_tokens - prompt_tokens)
        st.queued_prefill_tokens = max(0, st.queued_prefill_tokens - prefill_tokens)
        st._view = None

    def scraped(self, url: str, running: int | None, waiting: int | None, kv_usage: float | None) -> None:
        st = self._states.get(url)
        if st is None:
            return
        if (st.running, st.waiting, st.kv_usage) != (running, waiting, kv_usage):
            st.running, st.waiting, st.kv_usage = running, waiting, kv_usage
            st._view = None

    # --- health -----------------------------------------------------------------------------
    def success(self, url: str) -> None:
        st = self._states.get(url)
        if st is not None and st.consecutive_failures:
            st.consecutive_failures = 0

    def failure(self, url: str, *, hard: bool = False) -> bool:
        """Count a failure (`hard`: connection refused/reset, ejects at once); True if it ejected."""
        st = self._states.get(url)
        if st is None:
            return False
        st.consecutive_failures += 1
        if (hard or st.consecutive_failures >= self._eject_after) and st.ejected_until <= self._clock():
            st.ejected_until = self._clock() + self._eject_s
            st.ejections += 1
            return True
        return False

    def ejected(self) -> list[str]:
        now = self._clock()
        return [st.url for st in self._states.values() if st.ejected_until > now]

    def restore(self, url: str) -> None:
        """A probe found the endpoint healthy again."""
        st = self._states.get(url)
        if st is not None:
            st.ejected_until = 0.0
            st.consecutive_failures = 0
