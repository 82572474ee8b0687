"""`prefix-affinity-scorer`: share of the prompt an endpoint holds, in its own whole blocks.

Behaviour: score = `credited_chars / prompt_chars`, where the producer has already rounded each
endpoint's match down to whole blocks of that endpoint's block size (so 16- and 128-token
endpoints are compared fairly). Consumes `ctx.prefix` (from `block-prefix-producer`).
Parameters: none. Example: ``{type: prefix-affinity-scorer, weight: 1}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext

__all__ = ["PrefixAffinityParams", "PrefixAffinityScorer"]


class PrefixAffinityParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrefixAffinityScorer:
    type_name: ClassVar[str] = "prefix-affinity-scorer"
    consumes: ClassVar[tuple[str, ...]] = ("prefix",)

    def __init__(self, params: PrefixAffinityParams) -> None:
        self.params = params

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        pm = ctx.prefix
        if pm is None or not pm.prompt_chars or not pm.credited_chars:
            return {}
        total = pm.prompt_chars
        credited = pm.credited_chars
        return {e: min(1.0, c / total) for e, c in credited.items()}
