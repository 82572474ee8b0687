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
from typing import Literal

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, PluginParams, SeededPlugin

__all__ = ["RoundRobinParams", "RoundRobinPicker"]


class RoundRobinParams(PluginParams):
    mode: Literal["cycle", "random"] = "cycle"


class RoundRobinPicker(SeededPlugin[RoundRobinParams]):
    type_name = "round-robin-picker"

    def __init__(self, params: RoundRobinParams, rng: random.Random) -> None:
        super().__init__(params, rng)
        self._next = rng.randrange(1 << 16)

    def pick(self, ctx: CycleContext, endpoints: Sequence[EndpointView], totals: Sequence[float]) -> EndpointView:
        if self.params.mode == "random":
            return endpoints[self.rng.randrange(len(endpoints))]
        i = self._next
        self._next = i + 1
        return endpoints[i % len(endpoints)]
