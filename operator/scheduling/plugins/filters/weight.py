"""`weight-filter`: endpoints with routing weight 0 take no new requests.

Behaviour: drops candidates whose `weight` is exactly 0 (drained by the operator or by hand in
the endpoint file); if that would drop every candidate, all are kept (a pool whose weights are
all zero still serves). Parameters: none. Example: ``{type: weight-filter}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, NoParams, Plugin

__all__ = ["WeightFilter"]


class WeightFilter(Plugin[NoParams]):
    type_name = "weight-filter"

    def filter(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Sequence[EndpointView]:
        kept = [e for e in endpoints if e.capacity_multiplier != 0]
        return kept if kept else endpoints
