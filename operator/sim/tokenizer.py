"""A deterministic tokenizer stand-in: text -> token ids without downloading a model.

Pieces are up to four non-space characters, optionally led by one space (about 4 characters a
token, like BPE on English). Ids are CRC32 of the piece modulo the vocabulary, so the server and
the fleet simulation agree on every prompt without sharing state.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

__all__ = ["Tokenizer", "VOCAB_SIZE", "output_piece"]

VOCAB_SIZE = 100_000

# One piece never crosses whitespace, so tokenize(a + b) == tokenize(a) + tokenize(b) whenever
# b starts with a space and a does not end with one: workloads rely on this to tokenize shared
# system prompts once.
_PIECE = re.compile(r" ?[^\s]{1,4}|\s")


class _Vocab(dict[str, int]):
    def __missing__(self, piece: str) -> int:
        token_id = zlib.crc32(piece.encode("utf-8")) % VOCAB_SIZE
        self[piece] = token_id
        return token_id


class Tokenizer:
    """Deterministic text -> token ids, with a memo of pieces already seen (bounded)."""

    def __init__(self, max_memo_pieces: int = 200_000) -> None:
        self._vocab = _Vocab()
        self._max_memo = max_memo_pieces

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`."""
        if len(self._vocab) > self._max_memo:
            self._vocab.clear()
        return list(map(self._vocab.__getitem__, _PIECE.findall(text)))

    def count(self, text: str) -> int:
        """Number of tokens of `text` (no ids computed)."""
        return sum(1 for _ in _PIECE.finditer(text))


# Common English words, each one token in a BPE vocabulary and one piece here, so load tools that
# re-tokenize each streamed chunk (inference-perf does, for ITL) count one token per chunk.
_OUTPUT_WORDS = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "but",
    "have",
    "an",
    "they",
    "one",
    "you",
    "were",
    "her",
    "all",
    "she",
    "we",
    "can",
    "will",
    "if",
    "so",
    "do",
    "my",
)


def output_piece(index: int) -> str:
    """The text of generated token number `index` (0-based): one piece, so it re-tokenizes to one token."""
    return " " + _OUTPUT_WORDS[(index * 7 + 3) % len(_OUTPUT_WORDS)]


def iter_output_text(count: int) -> Iterator[str]:
    """The pieces of a `count`-token completion."""
    return map(output_piece, range(count))
