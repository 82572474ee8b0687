"""`weight-filter`: endpoints with routing weight 0 take no new requests.

Behaviour: drops candidates whose `weight` is exactly 0 (drained by the operator or by hand in
the endpoint file); if that would drop every candidate, all are kept (a pool whose weights are
all zero still serves). Parameters: none. Example: ``{type: weight-filter}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext

__all__ = ["WeightFilterParams", "WeightFilter"]


class WeightFilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightFilter:
    type_name: ClassVar[str] = "weight-filter"

    def __init__(self, params: WeightFilterParams) -> None:
        self.params = params

    def filter(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Sequence[EndpointView]:
        kept = [e for e in endpoints if e.capacity_multiplier != 0]
        return kept if kept else endpoints
