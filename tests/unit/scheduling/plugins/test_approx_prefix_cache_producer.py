"""approx-prefix-cache-producer: llm-d's approximate producer (one block size, partial blocks)."""

from __future__ import annotations

from heteropool.scheduling.framework import CycleContext
from heteropool.scheduling.plugins.producers.approx_prefix import ApproxPrefixCacheProducer, ApproxPrefixParams

from ..conftest import make_request, make_view


def test_block_size_comes_from_the_first_endpoint_with_autotune() -> None:
    prod = ApproxPrefixCacheProducer(ApproxPrefixParams())
    ctx = CycleContext(make_request("x" * 1000))
    prod.produce(ctx, [make_view("g", block_size=128), make_view("h", block_size=16)])
    assert ctx.prefix is not None and ctx.prefix.block_chars == 512 and ctx.prefix.total_blocks == 2


def test_truncates_to_max_blocks_and_records_the_chosen_endpoint() -> None:
    prod = ApproxPrefixCacheProducer(ApproxPrefixParams(autoTune=False, maxPrefixBlocksToMatch=4))
    ctx = CycleContext(make_request("y" * 1000))
    prod.produce(ctx, [make_view("a")])
    assert ctx.prefix is not None and ctx.prefix.total_blocks == 4
    prod.on_routed(ctx, None, "a")
    ctx2 = CycleContext(make_request("y" * 1000))
    prod.produce(ctx2, [make_view("a")])
    assert ctx2.prefix is not None and ctx2.prefix.matched_blocks == {"a": 4}
