"""`queue-scorer`: llm-d's queue scorer, min-max on the scraped waiting queue.

Behaviour: score = `(maxQ - q) / (maxQ - minQ)` over the candidates, with q the endpoint's
scraped `vllm:num_requests_waiting` (0 until a scrape succeeded); all equal -> 1.0.
Parameters: none. Example: ``{type: queue-scorer, weight: 2}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, NoParams, Plugin

__all__ = ["QueueScorer", "min_max_low_is_better"]


def min_max_low_is_better(values: Mapping[str, float]) -> dict[str, float]:
    """Map values to [0, 1] with the lowest at 1 and the highest at 0 (all equal -> 1)."""
    if not values:
        return {}
    lo = min(values.values())
    hi = max(values.values())
    if hi <= lo:
        return {k: 1.0 for k in values}
    span = hi - lo
    return {k: (hi - v) / span for k, v in values.items()}


class QueueScorer(Plugin[NoParams]):
    type_name = "queue-scorer"

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        return min_max_low_is_better({e.id: float(e.num_waiting or 0) for e in endpoints})
