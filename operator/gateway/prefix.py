"""Prompt block hashing and the approximate per-endpoint prefix index (one index, all vendors).

Hashing: the prompt is cut into fixed-size character blocks (4 characters ~ 1 token) and each
block's hash is chained to everything before it, so equal hashes at position i mean equal
prefixes up to block i. The chain is built from C-level primitives (``map(hash, ...)`` over str
slices, XOR with a per-position salt, running sum via ``itertools.accumulate``): a Python
``for`` loop over 470 blocks of a 30,000-character prompt costs ~2x more on the same machine
(bench/gateway_decision.py). ``hash(str)`` is salted per process, which is fine: the index
lives in one process and only equality matters.

Index: one LRU of block hashes per endpoint (bounded by the endpoint's KV capacity) plus a
reverse map hash -> endpoints, so a match walks the prompt once for all endpoints.
"""

from __future__ import annotations

import operator
import random
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from itertools import accumulate

__all__ = ["CHARS_PER_TOKEN", "hash_prompt_blocks", "PrefixIndex"]

CHARS_PER_TOKEN = 4
"""Characters per token assumed when converting vLLM block sizes to text (llm-d uses 4 too)."""

_SALT_RNG = random.Random(0x5EED)
_SALTS: list[int] = [_SALT_RNG.getrandbits(62) for _ in range(16384)]


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
    blocks = [prompt[i : i + block_chars] for i in range(0, limit, block_chars)]
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
        """Number of leading blocks of `hashes` each endpoint holds (endpoints with 0 omitted)."""
        owners_of = self._owners.get
        result: dict[str, int] = {}
        if not hashes:
            return result
        first = owners_of(hashes[0])
        if not first:
            return result
        alive = dict(first)
        n = len(hashes)
        i = 1
        while i < n:
            owners = owners_of(hashes[i])
            if not owners:
                break
            if len(alive) == 1:
                # the common case once a prefix sticks: one holder, a membership test per block
                (only,) = alive
                if only not in owners:
                    break
            else:
                gone = [e for e in alive if e not in owners]
                for ep in gone:
                    del alive[ep]
                    result[ep] = i
                if not alive:
                    return result
            i += 1
        for ep in alive:
            result[ep] = i
        return result

    def insert(self, endpoint_id: str, hashes: Iterable[int], capacity_blocks: int) -> None:
        """Record that `endpoint_id` now holds these blocks (most recent use), evicting LRU ones."""
        lru = self._lru.get(endpoint_id)
        if lru is None:
            lru = self._lru[endpoint_id] = OrderedDict()
        self._capacity[endpoint_id] = capacity_blocks
        owners = self._owners
        move = lru.move_to_end
        for h in hashes:
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
