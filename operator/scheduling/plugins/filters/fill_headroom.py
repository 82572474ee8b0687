"""`fill-headroom-filter`: where a low-priority request may go without costing latency-sensitive ones.

Behaviour: keeps an endpoint when this request, sent there now, would wait at most a budget for its
first token (`ttft = (queued prefill tokens + its uncached tokens) / prefill rate`, the
expected-ttft-scorer's figure), and its scraped KV usage is below `kvLimit`. The budget depends on
how much latency-sensitive traffic needs the endpoint: endpoints whose prefill rate is at least
`reserveShare` of the fastest candidate's (the premium hardware, where high-priority requests see
the lowest TTFT) get `reservedWaitSeconds`, and only while their KV usage is below `kvLimit`,
so a latency-sensitive request arriving there finds a short prefill queue and free KV blocks;
every other endpoint gets `waitSeconds`. When no endpoint qualifies the filter keeps none: the
request is saturated and waits in the picker (or is rejected), never in front of a
latency-sensitive request inside an engine. Endpoints without a known prefill rate are judged
with the mean of the known rates; with none known the filter keeps every endpoint.
Parameters: `reserveShare` 0.5, `reservedWaitSeconds` 0.4, `waitSeconds` 10.0, `kvLimit` 0.9.
Example: ``{type: fill-headroom-filter, parameters: {reservedWaitSeconds: 0.2}}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, Plugin, PluginParams
from heteropool.scheduling.plugins.scorers.expected_ttft import expected_ttft_s

__all__ = ["FillHeadroomParams", "FillHeadroomFilter", "reserved_endpoints"]


class FillHeadroomParams(PluginParams):
    reserveShare: float = Field(0.5, gt=0, le=1)
    reservedWaitSeconds: float = Field(0.4, ge=0)
    waitSeconds: float = Field(10.0, gt=0)
    kvLimit: float = Field(0.9, gt=0, le=1)


def reserved_endpoints(endpoints: Sequence[EndpointView], reserve_share: float) -> set[str]:
    """Ids of the endpoints latency-sensitive traffic needs most: prefill rate >= share x the fastest."""
    rates = [e.prefill_tokens_per_s for e in endpoints if e.prefill_tokens_per_s]
    if not rates:
        return set()
    floor = reserve_share * max(rates)
    return {e.id for e in endpoints if (e.prefill_tokens_per_s or 0.0) >= floor}


class FillHeadroomFilter(Plugin[FillHeadroomParams]):
    type_name = "fill-headroom-filter"

    def filter(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Sequence[EndpointView]:
        ttft = expected_ttft_s(ctx, endpoints)
        if not ttft:
            return endpoints
        p = self.params
        reserved = reserved_endpoints(endpoints, p.reserveShare)
        kept = []
        for e in endpoints:
            kv = e.kv_cache_usage
            if kv is not None and kv >= p.kvLimit:
                continue
            budget = p.reservedWaitSeconds if e.id in reserved else p.waitSeconds
            if ttft.get(e.id, 0.0) <= budget:
                kept.append(e)
        return kept
