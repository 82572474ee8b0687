"""`prefix-cache-scorer`: llm-d's prefix scorer, matched blocks / total blocks.

Behaviour: score = `matched_blocks / total_blocks` of the request's prompt for each endpoint
(0 when the prompt has no blocks). Consumes `ctx.prefix` from a prefix producer (required).
Parameters: none. Example: ``{type: prefix-cache-scorer, weight: 3}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, NoParams, Plugin

__all__ = ["PrefixCacheScorer"]


class PrefixCacheScorer(Plugin[NoParams]):
    type_name = "prefix-cache-scorer"
    consumes = ("prefix",)

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        pm = ctx.prefix
        if pm is None or not pm.total_blocks:
            return {}
        total = pm.total_blocks
        matched = pm.matched_blocks
        return {e.id: matched.get(e.id, 0) / total for e in endpoints}
