"""`capacity-load-scorer`: load normalised by capacity, with a bounded spill band.

Behaviour: each endpoint's relative capacity is `c = capacity x weight / max(capacity x weight)`
over the candidates (unknown capacity = mean of the known ones; none known = all equal), and its
load `u = (in_flight + queued_prompt_tokens / queuedTokensPerRequest + 1) / c` - the gateway's
own counters (never stale; queued prompt tokens are those of requests still waiting for their
first token, so a replica that prefills slowly looks busier), the in-flight part raised to the
scraped `running + waiting` when that is higher (other gateway replicas' traffic), plus the
request itself. So 5 requests on an H100 weigh less than 5 on a Gaudi 3. Score:
`clamp(1 - (u - u_min) / band, 0, 1)` with `band = spillAbs + spillRel x u_min`.
Combined with `prefix-affinity-scorer` (score = cached share p), a warm endpoint keeps its
prompts until it is `p x band` more loaded than the least-loaded one; then the request spills
to the least-loaded endpoint, which becomes warm too (bounded spill). Cold prompts (p = 0 for
all) go to the lowest normalised load, i.e. spread in proportion to capacity.
KV headroom: once an endpoint's scraped KV usage passes `kvSpill`, its load is divided by its
remaining headroom, `(1 - kv) / (1 - kvSpill)`, so a replica about to run out of KV blocks (where
vLLM preempts running requests and recomputes them) looks ever busier and warm prompts spill
before it preempts; at 100% it takes nothing while another endpoint can. The rule applies only
while some candidate has ample headroom (KV usage at most `kvSpill / 2`): in a pool where every
replica runs near full KV, spilling would only trade preemptions for cold prefills.
Parameters: `spillAbs` 16.0 (in-flight requests on the largest endpoint), `spillRel` 0.5,
`queuedTokensPerRequest` 2000 (queued prompt tokens counted as one more request), `kvSpill` 0.95
(1.0 turns the KV rule off).
Example: ``{type: capacity-load-scorer, weight: 1, parameters: {spillAbs: 32}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import Field

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, Plugin, PluginParams

__all__ = ["CapacityLoadParams", "CapacityLoadScorer", "relative_capacities", "normalized_loads"]


class CapacityLoadParams(PluginParams):
    spillAbs: float = Field(16.0, gt=0)
    spillRel: float = Field(0.5, ge=0)
    queuedTokensPerRequest: float = Field(2000.0, gt=0)
    kvSpill: float = Field(0.95, gt=0, le=1)


def relative_capacities(endpoints: Sequence[EndpointView]) -> dict[str, float]:
    """capacity x weight of each endpoint relative to the largest (0 for weight 0)."""
    known = [e.capacity_tokens_per_s for e in endpoints if e.capacity_tokens_per_s]
    default = sum(known) / len(known) if known else 1.0
    eff = {
        e.id: (e.capacity_tokens_per_s or default) * (1.0 if e.capacity_multiplier is None else e.capacity_multiplier)
        for e in endpoints
    }
    top = max(eff.values(), default=0.0)
    if top <= 0:
        return {k: 1.0 for k in eff}
    return {k: v / top for k, v in eff.items()}


def normalized_loads(
    endpoints: Sequence[EndpointView],
    rel: Mapping[str, float],
    queued_tokens_per_request: float = 2000.0,
    kv_spill: float = 1.0,
) -> dict[str, float]:
    """(load + 1) / relative capacity, divided by the KV headroom above `kv_spill`; infinite for
    a zero-capacity endpoint or one with no KV headroom left."""
    out: dict[str, float] = {}
    # Only while some endpoint has ample headroom (at most half of kv_spill used): in a pool where
    # every replica runs near full KV, spilling only trades preemptions for cold prefills.
    kv_rule = kv_spill < 1.0 and any(e.kv_cache_usage is None or e.kv_cache_usage <= kv_spill / 2 for e in endpoints)
    for e in endpoints:
        load = e.in_flight + e.queued_prompt_tokens / queued_tokens_per_request
        if e.num_running is not None:
            scraped = e.num_running + (e.num_waiting or 0)
            if scraped > load:
                load = scraped
        c = rel.get(e.id, 1.0)
        if kv_rule and c > 0 and e.kv_cache_usage is not None and e.kv_cache_usage > kv_spill:
            c *= max(0.0, 1.0 - e.kv_cache_usage) / (1.0 - kv_spill)
        out[e.id] = (load + 1) / c if c > 0 else float("inf")
    return out


class CapacityLoadScorer(Plugin[CapacityLoadParams]):
    type_name = "capacity-load-scorer"

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        rel = ctx.relative_capacity
        if rel is None:
            rel = ctx.relative_capacity = relative_capacities(endpoints)
        loads = normalized_loads(endpoints, rel, self.params.queuedTokensPerRequest, self.params.kvSpill)
        u_min = min(loads.values(), default=0.0)
        if u_min == float("inf"):
            return {k: 0.0 for k in loads}
        band = self.params.spillAbs + self.params.spillRel * u_min
        return {k: max(0.0, 1.0 - (u - u_min) / band) for k, u in loads.items()}
