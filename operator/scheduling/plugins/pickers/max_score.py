"""`max-score-picker`: highest total score wins, ties broken at random (seeded).

Behaviour: as llm-d's max-score picker (shuffle, then stable sort by score): uniformly random
among the endpoints sharing the maximum total. The RNG is injected (`random.Random(seed)`).
Parameters: none. Example: ``{type: max-score-picker}``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext

__all__ = ["MaxScoreParams", "MaxScorePicker"]

_EPS = 1e-9


class MaxScoreParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaxScorePicker:
    type_name: ClassVar[str] = "max-score-picker"

    def __init__(self, params: MaxScoreParams, rng: random.Random) -> None:
        self.params = params
        self._rng = rng

    def pick(self, ctx: CycleContext, endpoints: Sequence[EndpointView], totals: Sequence[float]) -> EndpointView:
        best = max(totals)
        top = [i for i, t in enumerate(totals) if t >= best - _EPS]
        if len(top) == 1:
            return endpoints[top[0]]
        return endpoints[top[self._rng.randrange(len(top))]]
