"""`approx-prefix-cache-producer`: llm-d's approximate prefix producer, reproduced faithfully.

Behaviour (llm-d-router `dataproducer/approximateprefix`): the prompt is cut into blocks of
`blockSizeTokens` x 4 characters (trailing partial block included), at most
`maxPrefixBlocksToMatch` blocks, chained-hashed; each endpoint's match is the number of leading
blocks found in its LRU. With `autoTune` the block size is the *first* endpoint's block size (so a
mixed 16/128 pool is hashed at one granularity, as upstream does). After routing, the chosen
endpoint records all the request's blocks.
Inputs: prompt text; endpoint `block_size`. Writes `ctx.prefix` (credited = matched blocks).
Parameters: `blockSizeTokens` 16, `autoTune` true, `maxPrefixBlocksToMatch` 256,
`lruCapacityPerServer` 31250.
Example: ``{type: approx-prefix-cache-producer, parameters: {autoTune: false}}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, PluginParams, PrefixMatch
from heteropool.scheduling.prefix import CHARS_PER_TOKEN, PrefixProducer, hash_prompt_blocks

__all__ = ["ApproxPrefixParams", "ApproxPrefixCacheProducer"]


class ApproxPrefixParams(PluginParams):
    blockSizeTokens: int = Field(16, ge=1)
    autoTune: bool = True
    maxPrefixBlocksToMatch: int = Field(256, ge=1)
    lruCapacityPerServer: int = Field(31250, ge=1)


class ApproxPrefixCacheProducer(PrefixProducer[ApproxPrefixParams]):
    type_name = "approx-prefix-cache-producer"

    def produce(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> None:
        p = self.params
        block_tokens = endpoints[0].block_size if (p.autoTune and endpoints) else p.blockSizeTokens
        block_chars = block_tokens * CHARS_PER_TOKEN
        prompt = ctx.request.prompt
        hashes = hash_prompt_blocks(prompt, block_chars, p.maxPrefixBlocksToMatch, partial=True)
        matched = self.index.match(hashes)
        ctx.prefix = PrefixMatch(
            block_chars=block_chars,
            hashes=hashes,
            prompt_chars=len(prompt),
            matched_blocks=matched,
            credited_chars={e: n * block_chars for e, n in matched.items()},
            total_blocks=len(hashes),
        )

    def capacity_blocks(self, endpoint: EndpointView | None) -> int:
        return self.params.lruCapacityPerServer
