"""Chained block hashes over prompt tokens, as vLLM's prefix cache keys its KV blocks.

Block i's hash covers its own tokens and block i-1's hash, so equal hashes mean equal prefixes.
Only full blocks are hashed (vLLM never caches a partial block).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from heteropool.sim.tokenizer import Tokenizer

__all__ = ["ROOT_HASH", "hash_blocks", "PromptHashes", "PrefixHasher"]

ROOT_HASH = 0x5EED


def hash_blocks(tokens: Sequence[int], block_size: int, parent: int = ROOT_HASH) -> list[int]:
    """Hashes of the full blocks of `tokens`, chained from `parent`."""
    out: list[int] = []
    for start in range(0, len(tokens) - block_size + 1, block_size):
        parent = hash((parent, tuple(tokens[start : start + block_size])))
        out.append(parent)
    return out


@dataclass(frozen=True, slots=True)
class PromptHashes:
    """A tokenized prompt as the engine needs it: its length and its full-block hashes."""

    num_tokens: int
    hashes: tuple[int, ...]
    # Tokens after the last full block; with `hashes[-1]` they let a longer prompt continue.
    tail: tuple[int, ...]


class PrefixHasher:
    """Block hashes of prompts given as text segments, for one block size.

    Prompts that share leading segments (a system prompt, a chat history) are hashed once per
    distinct prefix: the state after each prefix of segments is kept in a bounded LRU, keyed by
    the segment strings themselves (Python caches a str's hash, so reused objects cost O(1)).
    A prompt's segments must join at a space (see `Tokenizer`).
    """

    def __init__(self, tokenizer: Tokenizer, block_size: int, max_entries: int = 8192) -> None:
        self.block_size = block_size
        self._tokenizer = tokenizer
        self._max_entries = max_entries
        self._states: OrderedDict[tuple[str, ...], PromptHashes] = OrderedDict()
        self._empty = PromptHashes(0, (), ())

    def of_text(self, text: str) -> PromptHashes:
        """Hashes of one prompt string (no caching)."""
        return self._extend(self._empty, self._tokenizer.encode(text))

    def of_tokens(self, tokens: Sequence[int]) -> PromptHashes:
        """Hashes of a prompt given as token ids (no caching)."""
        return self._extend(self._empty, list(tokens))

    def of_segments(self, segments: Sequence[str]) -> PromptHashes:
        """Hashes of the concatenation of `segments`, reusing cached prefixes."""
        key = tuple(segments)
        states = self._states
        found = len(key)
        state = self._empty
        while found > 0:
            hit = states.get(key[:found])
            if hit is not None:
                states.move_to_end(key[:found])
                state = hit
                break
            found -= 1
        for end in range(found + 1, len(key) + 1):
            state = self._extend(state, self._tokenizer.encode(key[end - 1]))
            states[key[:end]] = state
        while len(states) > self._max_entries:
            states.popitem(last=False)
        return state

    def _extend(self, state: PromptHashes, tokens: list[int]) -> PromptHashes:
        joined = list(state.tail) + tokens if state.tail else tokens
        parent = state.hashes[-1] if state.hashes else ROOT_HASH
        new = hash_blocks(joined, self.block_size, parent)
        rest = len(joined) % self.block_size
        return PromptHashes(
            num_tokens=state.num_tokens + len(tokens),
            hashes=state.hashes + tuple(new) if new else state.hashes,
            tail=tuple(joined[len(joined) - rest :]) if rest else (),
        )
