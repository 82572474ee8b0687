"""`block-prefix-producer`: one prefix index across vendors, credited in each endpoint's own blocks.

Behaviour: hashes the prompt once in `blockChars`-character blocks (whole blocks only: vLLM never
caches a partial block) up to `maxPrefixChars`, matches them against one index spanning all
endpoints, and credits each endpoint only whole blocks of *its own* vLLM block size
(`block_size` x 4 characters): a 128-token Gaudi endpoint holding 200 tokens of a prompt is
credited 128, a 16-token H100 endpoint 192. Each endpoint's LRU holds at most its KV capacity
(`kv_capacity_tokens` of the endpoint, else `lruCapacityTokens`).
Inputs: prompt text; endpoint `block_size`, `kv_capacity_tokens`. Writes `ctx.prefix`.
Parameters: `blockChars` 256 (64 tokens: hashing a 30,000-character prompt costs ~60-90 us vs
~100-160 us at 128 and ~300 us at 64 on the 2-vCPU test box, and the decision p99 budget at 20
endpoints is 300 us; a shared prefix shorter than 64 tokens is not worth routing for, and the
fleet simulation showed no quality difference to 128 - bench/results/gateway_bench.md),
`maxPrefixChars` 65536, `lruCapacityTokens` 500000.
Example: ``{type: block-prefix-producer, parameters: {blockChars: 64}}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, PluginParams, PrefixMatch
from heteropool.scheduling.prefix import CHARS_PER_TOKEN, PrefixProducer, hash_prompt_blocks

__all__ = ["BlockPrefixParams", "BlockPrefixProducer"]


class BlockPrefixParams(PluginParams):
    blockChars: int = Field(256, ge=4)
    maxPrefixChars: int = Field(65536, ge=64)
    lruCapacityTokens: int = Field(500_000, ge=1)


class BlockPrefixProducer(PrefixProducer[BlockPrefixParams]):
    type_name = "block-prefix-producer"

    def produce(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> None:
        bc = self.params.blockChars
        prompt = ctx.request.prompt
        hashes = hash_prompt_blocks(prompt, bc, self.params.maxPrefixChars // bc)
        matched = self.index.match(hashes) if hashes else {}
        credited: dict[str, int] = {}
        if matched:
            for ep in endpoints:
                n = matched.get(ep.id)
                if n:
                    own = max(1, ep.block_size) * CHARS_PER_TOKEN
                    chars = n * bc
                    credited[ep.id] = chars - chars % own
        ctx.prefix = PrefixMatch(
            block_chars=bc,
            hashes=hashes,
            prompt_chars=len(prompt),
            matched_blocks=matched,
            credited_chars=credited,
            total_blocks=len(hashes),
        )

    def capacity_blocks(self, endpoint: EndpointView | None) -> int:
        """The endpoint's KV capacity in blocks (`lruCapacityTokens` when it does not say)."""
        tokens = self.params.lruCapacityTokens
        if endpoint is not None and endpoint.kv_capacity_tokens:
            tokens = endpoint.kv_capacity_tokens
        return max(1, tokens * CHARS_PER_TOKEN // self.params.blockChars)
