"""block-prefix-producer: one index, credit in each endpoint's own whole blocks, KV-sized LRU."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext
from heteropool.scheduling.plugins.producers.block_prefix import BlockPrefixParams, BlockPrefixProducer

from ..conftest import make_request, make_view


@pytest.mark.parametrize(
    ("block_size", "expected_chars"),
    [(16, 1280), (32, 1280), (128, 1024), (512, 0)],
    ids=["16-tokens", "32-tokens", "128-tokens", "larger-than-match"],
)
def test_credit_is_whole_blocks_of_the_endpoints_block_size(block_size: int, expected_chars: int) -> None:
    prod = BlockPrefixProducer(BlockPrefixParams(blockChars=128))
    prompt = "z" * 1300  # 10 whole 128-char blocks = 1280 chars
    view = make_view("a", block_size=block_size)
    ctx = CycleContext(make_request(prompt))
    prod.produce(ctx, [view])
    prod.on_routed(ctx, view, "a")
    ctx2 = CycleContext(make_request(prompt))
    prod.produce(ctx2, [view])
    assert ctx2.prefix is not None
    assert ctx2.prefix.credited_chars.get("a", 0) == expected_chars


def test_lru_is_sized_from_the_endpoints_kv_capacity() -> None:
    prod = BlockPrefixProducer(BlockPrefixParams(blockChars=128))
    view = make_view("a", kv_capacity_tokens=64)  # 64 tokens = 256 chars = 2 blocks
    ctx = CycleContext(make_request("q" * 1280))
    prod.produce(ctx, [view])
    prod.on_routed(ctx, view, "a")
    assert prod.index.blocks("a") == 2
