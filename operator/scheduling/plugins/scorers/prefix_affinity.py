"""`prefix-affinity-scorer`: share of the prompt an endpoint holds, in its own whole blocks.

Behaviour: score = `credited_chars / prompt_chars`, where the producer has already rounded each
endpoint's match down to whole blocks of that endpoint's block size (so 16- and 128-token
endpoints are compared fairly). Consumes `ctx.prefix` (from `block-prefix-producer`).
Parameters: none. Example: ``{type: prefix-affinity-scorer, weight: 1}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, NoParams, Plugin

__all__ = ["PrefixAffinityScorer"]


class PrefixAffinityScorer(Plugin[NoParams]):
    type_name = "prefix-affinity-scorer"
    consumes = ("prefix",)

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        return ctx.prefix.cached_shares() if ctx.prefix is not None else {}
