"""The KV block pool of one replica: private blocks, a hash-keyed prefix cache, LRU eviction.

Blocks are counted, not stored: a running request owns some cached blocks (by hash, shared and
ref-counted) and some private ones (partial blocks, decode blocks). A cached block whose last
user finished stays in the cache, evictable in LRU order, until a new allocation needs it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

__all__ = ["BlockPool"]


class BlockPool:
    """Counts of a fixed number of KV blocks; O(1) per block moved."""

    def __init__(self, num_blocks: int, *, enable_prefix_caching: bool = True) -> None:
        self.num_blocks = num_blocks
        self.enable_prefix_caching = enable_prefix_caching
        self._refs: dict[int, int] = {}
        self._evictable: OrderedDict[int, None] = OrderedDict()
        self._private = 0
        self._active = 0  # cached blocks with at least one user

    @property
    def available(self) -> int:
        """Blocks an allocation may take: free plus evictable."""
        return self.num_blocks - self._private - self._active

    @property
    def used(self) -> int:
        """Blocks referenced by running requests (what vLLM reports as KV usage)."""
        return self._private + self._active

    @property
    def num_cached(self) -> int:
        """Blocks held in the prefix cache, in use or evictable."""
        return len(self._refs)

    def usage(self) -> float:
        """KV usage in 0..1, as `vllm:kv_cache_usage_perc`."""
        return self.used / self.num_blocks

    def match(self, hashes: Sequence[int], max_blocks: int) -> tuple[int, int]:
        """Longest cached prefix of `hashes` (at most `max_blocks`).

        Returns:
            (blocks hit, how many of them are evictable, i.e. would leave the free pool if taken)
        """
        if not self.enable_prefix_caching:
            return 0, 0
        refs = self._refs
        hit = idle = 0
        for h in hashes[:max_blocks]:
            r = refs.get(h)
            if r is None:
                break
            hit += 1
            if r == 0:
                idle += 1
        return hit, idle

    def acquire(self, hashes: Sequence[int]) -> None:
        """Take one more reference on cached blocks (all must be cached)."""
        refs = self._refs
        for h in hashes:
            r = refs[h]
            if r == 0:
                del self._evictable[h]
                self._active += 1
            refs[h] = r + 1

    def allocate(self, count: int) -> None:
        """Take `count` private blocks, evicting least recently used cached blocks if needed."""
        if count <= 0:
            return
        free = self.num_blocks - self._private - self._active - len(self._evictable)
        evictable, refs = self._evictable, self._refs
        for _ in range(count - free):
            h, _none = evictable.popitem(last=False)
            del refs[h]
        self._private += count

    def release_private(self, count: int) -> None:
        """Give back `count` private blocks."""
        self._private -= count

    def promote(self, block_hash: int) -> None:
        """A private block now holds a full prompt block: put it in the cache under its hash.

        If another request cached the same block meanwhile, share that one and free ours.
        Callers skip this when prefix caching is off (blocks then stay private).
        """
        self._private -= 1
        refs = self._refs
        r = refs.get(block_hash)
        if r is None:
            refs[block_hash] = 1
            self._active += 1
        elif r == 0:
            del self._evictable[block_hash]
            self._active += 1
            refs[block_hash] = 1
        else:
            refs[block_hash] = r + 1

    def release(self, hashes: Sequence[int]) -> None:
        """Drop one reference on cached blocks; unreferenced ones become evictable.

        Released in reverse so a prompt's tail is evicted before its head (as vLLM does): the
        head is the part other requests are most likely to share.
        """
        refs, evictable = self._refs, self._evictable
        for h in reversed(hashes):
            r = refs[h] - 1
            if r == 0:
                self._active -= 1
                evictable[h] = None
            refs[h] = r

    def reset_prefix_cache(self) -> None:
        """Forget every evictable block (vLLM's /reset_prefix_cache)."""
        for h in self._evictable:
            del self._refs[h]
        self._evictable.clear()
