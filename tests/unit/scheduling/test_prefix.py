"""Prompt block hashing and the per-endpoint prefix index."""

from __future__ import annotations

import pytest

from heteropool.scheduling.prefix import PrefixIndex, hash_prompt_blocks


def test_equal_prefixes_hash_equal_and_diverge_after_the_first_different_block() -> None:
    a = hash_prompt_blocks("x" * 64 + "y" * 64 + "z" * 64, 64, 100)
    b = hash_prompt_blocks("x" * 64 + "y" * 64 + "q" * 64, 64, 100)
    assert a[:2] == b[:2]
    assert a[2] != b[2]


def test_hash_is_chained_so_a_block_depends_on_everything_before_it() -> None:
    a = hash_prompt_blocks("a" * 64 + "b" * 64, 64, 10)
    b = hash_prompt_blocks("b" * 64 + "b" * 64, 64, 10)
    assert a[1] != b[1]


def test_block_order_matters() -> None:
    a = hash_prompt_blocks("a" * 64 + "b" * 64, 64, 10)
    b = hash_prompt_blocks("b" * 64 + "a" * 64, 64, 10)
    assert a[1] != b[1]


@pytest.mark.parametrize(
    ("length", "partial", "max_blocks", "expected"),
    [(130, False, 10, 2), (130, True, 10, 3), (64 * 20, False, 5, 5), (10, False, 10, 0), (0, True, 10, 0)],
    ids=["whole-only", "partial", "capped", "short", "empty"],
)
def test_block_count(length: int, partial: bool, max_blocks: int, expected: int) -> None:
    assert len(hash_prompt_blocks("p" * length, 64, max_blocks, partial=partial)) == expected


def test_match_counts_leading_blocks_per_endpoint() -> None:
    idx = PrefixIndex()
    h = [1, 2, 3, 4]
    idx.insert("a", h, 100)
    idx.insert("b", h[:2], 100)
    idx.insert("c", [9], 100)
    assert idx.match(h) == {"a": 4, "b": 2}
    assert idx.match([5, 1]) == {}
    assert idx.match([]) == {}


def test_lru_evicts_leaves_before_their_prefix_and_forgets_endpoints() -> None:
    idx = PrefixIndex()
    idx.insert("a", [1, 2, 3], 3)
    idx.insert("a", [7], 3)  # evicts 3, the leaf, never the prefix 1, 2
    assert idx.blocks("a") == 3
    assert idx.match([1, 2, 3]) == {"a": 2}
    idx.forget("a")
    assert idx.match([1]) == {}
    assert idx.blocks("a") == 0


@pytest.mark.parametrize("held", [0, 1, 5, 99, 100], ids=lambda n: f"held-{n}")
def test_binary_search_match_finds_the_exact_held_prefix(held: int) -> None:
    idx = PrefixIndex()
    hashes = list(range(1000, 1100))
    if held:
        idx.insert("a", hashes[:held], 1000)
    idx.insert("b", hashes[:1], 1000)
    expected = {"b": 1} | ({"a": held} if held else {})
    assert idx.match(hashes) == expected
