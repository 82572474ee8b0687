"""`spare-hardware-scorer`: prefer the endpoints latency-sensitive traffic needs least.

Behaviour: score = `1 - rate / fastest` over the candidates' prefill rates (the slowest or oldest
hardware scores highest, the fastest 0), so low-priority work fills the replicas where a
latency-sensitive request would wait longest and leaves the fast ones free. Endpoints without a
known rate get the mean of the known ones; with none known the scorer abstains.
Parameters: none. Example: ``{type: spare-hardware-scorer, weight: 1}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, NoParams, Plugin

__all__ = ["SpareHardwareScorer"]


class SpareHardwareScorer(Plugin[NoParams]):
    type_name = "spare-hardware-scorer"

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        known = [e.prefill_tokens_per_s for e in endpoints if e.prefill_tokens_per_s]
        if not known:
            return {}
        default = sum(known) / len(known)
        top = max(known)
        return {e.id: 1.0 - (e.prefill_tokens_per_s or default) / top for e in endpoints}
