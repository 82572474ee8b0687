"""`round-robin-picker`: each request to the next candidate in turn (what a Service does).

Behaviour: ignores scores; keeps one counter and picks `candidates[counter % n]`, so with a
stable endpoint list every endpoint gets the same share. The counter starts at a seeded random
offset. Parameter `mode`: `cycle` (default, as above) or `random` (a candidate drawn uniformly
per request: what a Kubernetes Service in kube-proxy's default iptables mode does per connection;
the fleet simulation's stand-in for the published Service baseline, where a strict cycle would
line up with the benchmark's periodic prompt order and hit caches no real Service hits).
Example: ``{type: round-robin-picker, parameters: {mode: random}}``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext

__all__ = ["RoundRobinParams", "RoundRobinPicker"]


class RoundRobinParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["cycle", "random"] = "cycle"


class RoundRobinPicker:
    type_name: ClassVar[str] = "round-robin-picker"

    def __init__(self, params: RoundRobinParams, rng: random.Random) -> None:
        self.params = params
        self._rng = rng
        self._next = rng.randrange(1 << 16)

    def pick(self, ctx: CycleContext, endpoints: Sequence[EndpointView], totals: Sequence[float]) -> EndpointView:
        if self.params.mode == "random":
            return endpoints[self._rng.randrange(len(endpoints))]
        i = self._next
        self._next = i + 1
        return endpoints[i % len(endpoints)]
