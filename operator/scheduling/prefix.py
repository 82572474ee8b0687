"""Prompt block hashing and the approximate per-endpoint prefix index (one index, all vendors).

Hashing: the prompt is cut into fixed-size character blocks (4 characters ~ 1 token) and each
block's hash is chained to everything before it, so equal hashes at position i mean equal
prefixes up to block i. The chain is built from C-level primitives only (``map`` of cached slice
objects, ``hash`` of each str slice, XOR with a per-position salt, running sum via
``itertools.accumulate``); per-block interpreter overhead, not hashing bytes, dominates here
(bench/gateway_decision.py compares it with a Python loop). ``hash(str)`` is salted per process, which is
fine: the index lives in one process and only equality matters.

Index: one LRU of block hashes per endpoint (bounded by the endpoint's KV capacity) plus a
reverse map hash -> endpoints; kept prefix-closed so a match is a binary search per holder.
`PrefixProducer` is what the prefix producers share: the index, learnt from every routed request.
"""

from __future__ import annotations

import operator
import random
from collections import OrderedDict
from collections.abc import Sequence
from itertools import accumulate
from typing import TypeVar

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, Plugin, PluginParams

__all__ = ["CHARS_PER_TOKEN", "hash_prompt_blocks", "PrefixIndex", "PrefixProducer"]

CHARS_PER_TOKEN = 4
"""Characters per token assumed when converting vLLM block sizes to text (llm-d uses 4 too)."""

_SALT_RNG = random.Random(0x5EED)
_SALTS: list[int] = [_SALT_RNG.getrandbits(62) for _ in range(16384)]
_SLICES: dict[int, list[slice]] = {}


def hash_prompt_blocks(prompt: str, block_chars: int, max_blocks: int, *, partial: bool = False) -> list[int]:
    """Chained hashes of the first `max_blocks` blocks of `prompt` (`block_chars` characters each).

    A trailing partial block is hashed only when `partial` is true (llm-d does; vLLM never caches
    a partial block, so the heteropool producer does not).
    """
    limit = min(len(prompt), block_chars * max_blocks, block_chars * len(_SALTS))
    if not partial:
        limit -= limit % block_chars
    if limit <= 0:
        return []
    count = -(-limit // block_chars)
    slices = _SLICES.get(block_chars)
    if slices is None or len(slices) < count:
        slices = _SLICES[block_chars] = [slice(i, i + block_chars) for i in range(0, block_chars * count, block_chars)]
    blocks = map(prompt.__getitem__, slices[:count])
    # position-salted block hashes, summed: order-sensitive and prefix-determined.
    return list(accumulate(map(operator.xor, map(hash, blocks), _SALTS)))


class PrefixIndex:
    """Approximate record of which prompt blocks each endpoint holds in its KV cache."""

    __slots__ = ("_owners", "_lru", "_capacity")

    def __init__(self) -> None:
        self._owners: dict[int, dict[str, None]] = {}
        self._lru: dict[str, OrderedDict[int, None]] = {}
        self._capacity: dict[str, int] = {}

    def match(self, hashes: Sequence[int]) -> dict[str, int]:
        """Number of leading blocks of `hashes` each endpoint holds (endpoints with 0 omitted).

        The index is prefix-closed (see `insert`): an endpoint holding block i holds blocks < i,
        so each holder of the first block is resolved by a binary search (O(log n) lookups)
        instead of a walk over every block of a 30,000-character prompt.
        """
        owners_of = self._owners.get
        result: dict[str, int] = {}
        if not hashes:
            return result
        first = owners_of(hashes[0])
        if not first:
            return result
        n = len(hashes)
        last = owners_of(hashes[-1])
        for ep in first:
            if last is not None and ep in last:
                result[ep] = n
                continue
            lo, hi = 1, n - 1  # ep holds block lo-1; find the largest held index in [lo-1, hi)
            while lo <= hi:
                mid = (lo + hi) >> 1
                holders = owners_of(hashes[mid])
                if holders is not None and ep in holders:
                    lo = mid + 1
                else:
                    hi = mid - 1
            result[ep] = lo
        return result

    def insert(self, endpoint_id: str, hashes: Sequence[int], capacity_blocks: int) -> None:
        """Record that `endpoint_id` now holds these blocks (most recent use), evicting LRU ones."""
        lru = self._lru.get(endpoint_id)
        if lru is None:
            lru = self._lru[endpoint_id] = OrderedDict()
        self._capacity[endpoint_id] = capacity_blocks
        owners = self._owners
        move = lru.move_to_end
        # Last block first, so earlier blocks are more recent and evicted later: the index stays
        # prefix-closed (like vLLM's own cache, which evicts leaves first), which `match` relies on.
        for h in reversed(hashes):
            if h in lru:
                move(h)
            else:
                lru[h] = None
                holders = owners.get(h)
                if holders is None:
                    owners[h] = {endpoint_id: None}
                else:
                    holders[endpoint_id] = None
        while len(lru) > capacity_blocks:
            old, _ = lru.popitem(last=False)
            self._drop_owner(old, endpoint_id)

    def forget(self, endpoint_id: str) -> None:
        """Drop everything recorded for an endpoint that left the pool."""
        lru = self._lru.pop(endpoint_id, None)
        self._capacity.pop(endpoint_id, None)
        if lru:
            for h in lru:
                self._drop_owner(h, endpoint_id)

    def blocks(self, endpoint_id: str) -> int:
        """Number of blocks recorded for an endpoint."""
        lru = self._lru.get(endpoint_id)
        return len(lru) if lru else 0

    def _drop_owner(self, h: int, endpoint_id: str) -> None:
        holders = self._owners.get(h)
        if holders is not None:
            holders.pop(endpoint_id, None)
            if not holders:
                del self._owners[h]


P = TypeVar("P", bound=PluginParams)


class PrefixProducer(Plugin[P]):
    """Base of the prefix producers: one `PrefixIndex`, taught the blocks of every routed request.

    A subclass hashes the prompt and credits the endpoints (`produce`, writing `ctx.prefix`) and
    says how many blocks an endpoint's LRU may hold (`capacity_blocks`).
    """

    def __init__(self, params: P) -> None:
        super().__init__(params)
        self.index = PrefixIndex()

    def capacity_blocks(self, endpoint: EndpointView | None) -> int:
        raise NotImplementedError

    def on_routed(self, ctx: CycleContext, endpoint: EndpointView | None, endpoint_id: str) -> None:
        pm = ctx.prefix
        if pm is not None and pm.hashes:
            self.index.insert(endpoint_id, pm.hashes, self.capacity_blocks(endpoint))

    def forget(self, endpoint_ids: Sequence[str]) -> None:
        for e in endpoint_ids:
            self.index.forget(e)
