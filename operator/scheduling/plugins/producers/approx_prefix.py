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
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, PrefixMatch
from heteropool.scheduling.prefix import CHARS_PER_TOKEN, PrefixIndex, hash_prompt_blocks

__all__ = ["ApproxPrefixParams", "ApproxPrefixCacheProducer"]


class ApproxPrefixParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    blockSizeTokens: int = Field(16, ge=1)
    autoTune: bool = True
    maxPrefixBlocksToMatch: int = Field(256, ge=1)
    lruCapacityPerServer: int = Field(31250, ge=1)


class ApproxPrefixCacheProducer:
    type_name: ClassVar[str] = "approx-prefix-cache-producer"

    def __init__(self, params: ApproxPrefixParams) -> None:
        self.params = params
        self.index = PrefixIndex()

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

    def on_routed(self, ctx: CycleContext, endpoint: EndpointView | None, endpoint_id: str) -> None:
        if ctx.prefix is not None and ctx.prefix.hashes:
            self.index.insert(endpoint_id, ctx.prefix.hashes, self.params.lruCapacityPerServer)

    def forget(self, endpoint_ids: Sequence[str]) -> None:
        for e in endpoint_ids:
            self.index.forget(e)
