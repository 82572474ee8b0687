"""`least-request-scorer`: fewest gateway-counted in-flight requests wins.

Behaviour: min-max over the candidates' in-flight counts (the gateway's own counter, always
fresh), lowest -> 1, highest -> 0, all equal -> 1. No capacity normalisation: this is the
plain least-request baseline. Parameters: none.
Example: ``{type: least-request-scorer}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, NoParams, Plugin
from heteropool.scheduling.plugins.scorers.queue import min_max_low_is_better

__all__ = ["LeastRequestScorer"]


class LeastRequestScorer(Plugin[NoParams]):
    type_name = "least-request-scorer"

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        return min_max_low_is_better({e.id: float(e.in_flight) for e in endpoints})
