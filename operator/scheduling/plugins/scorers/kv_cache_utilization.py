"""`kv-cache-utilization-scorer`: llm-d's KV scorer, 1 - scraped KV cache usage.

Behaviour: score = `1 - vllm:kv_cache_usage_perc` (0..1) per endpoint; an endpoint not yet
scraped counts as empty (score 1). Parameters: none.
Example: ``{type: kv-cache-utilization-scorer, weight: 2}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, NoParams, Plugin

__all__ = ["KvCacheUtilizationScorer"]


class KvCacheUtilizationScorer(Plugin[NoParams]):
    type_name = "kv-cache-utilization-scorer"

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        return {e.id: 1.0 - (e.kv_cache_usage or 0.0) for e in endpoints}
