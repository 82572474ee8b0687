"""`round-robin-picker`: each request to the next candidate in turn (what a Service does).

Behaviour: ignores scores; keeps one counter and picks `candidates[counter % n]`, so with a
stable endpoint list every endpoint gets the same share. The counter starts at a seeded random
offset. Parameters: none. Example: ``{type: round-robin-picker}``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from heteropool.gateway.framework import CycleContext
from heteropool.routing import EndpointView

__all__ = ["RoundRobinParams", "RoundRobinPicker"]


class RoundRobinParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoundRobinPicker:
    type_name: ClassVar[str] = "round-robin-picker"

    def __init__(self, params: RoundRobinParams, rng: random.Random) -> None:
        self.params = params
        self._next = rng.randrange(1 << 16)

    def pick(self, ctx: CycleContext, endpoints: Sequence[EndpointView], totals: Sequence[float]) -> EndpointView:
        i = self._next
        self._next = i + 1
        return endpoints[i % len(endpoints)]
