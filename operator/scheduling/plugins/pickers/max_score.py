"""`max-score-picker`: highest total score wins, ties broken at random (seeded).

Behaviour: as llm-d's max-score picker (shuffle, then stable sort by score): uniformly random
among the endpoints sharing the maximum total. The RNG is injected (`random.Random(seed)`).
Parameters: none. Example: ``{type: max-score-picker}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, NoParams, SeededPlugin

__all__ = ["MaxScorePicker"]

_EPS = 1e-9


class MaxScorePicker(SeededPlugin[NoParams]):
    type_name = "max-score-picker"

    def pick(self, ctx: CycleContext, endpoints: Sequence[EndpointView], totals: Sequence[float]) -> EndpointView:
        best = max(totals)
        top = [i for i, t in enumerate(totals) if t >= best - _EPS]
        if len(top) == 1:
            return endpoints[top[0]]
        return endpoints[top[self.rng.randrange(len(top))]]
