"""`expected-ttft-scorer`: the endpoint where this request's first token is expected soonest.

Behaviour: per endpoint, `ttft = (queued_prefill_tokens + uncached) / prefill_tokens_per_s`, where
`queued_prefill_tokens` is the gateway's count of prompt tokens that requests still waiting for
their first token there are expected to prefill, `uncached` is this request's prompt tokens minus
the prefix the endpoint is credited with (`ctx.prefix`, whole blocks of the endpoint's own block
size; no prefix producer = nothing cached), and the rate is the endpoint's measured prefill speed
(the weight loop's, else its accelerator's prior). So the same queue means a ~6x longer wait on an
MI325X than on an H100, and a long uncached prompt starts soonest where prefill is fast.
Score: `(ttft_min + toleranceSeconds) / (ttft + toleranceSeconds)` over the candidates (1 for the
soonest; the tolerance keeps millisecond differences between near-idle endpoints from counting).
An endpoint without a rate gets the mean of the known ones; with none known the scorer abstains.
Parameters: `toleranceSeconds` 0.1. Example: ``{type: expected-ttft-scorer, weight: 1}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import Field

from heteropool.routing import EndpointView
from heteropool.scheduling.framework import CycleContext, Plugin, PluginParams

__all__ = ["ExpectedTtftParams", "ExpectedTtftScorer", "expected_ttft_s"]


class ExpectedTtftParams(PluginParams):
    toleranceSeconds: float = Field(0.1, gt=0)


def expected_ttft_s(ctx: CycleContext, endpoints: Sequence[EndpointView]) -> dict[str, float]:
    """Seconds until this request's first token on each endpoint ({} when no endpoint has a rate).

    Computed once per cycle (kept in `ctx.expected_ttft`); every plugin that asks sees the same figures.
    """
    if ctx.expected_ttft is not None:
        return ctx.expected_ttft
    ctx.expected_ttft = _expected_ttft_s(ctx, endpoints)
    return ctx.expected_ttft


def _expected_ttft_s(ctx: CycleContext, endpoints: Sequence[EndpointView]) -> dict[str, float]:
    known = [e.prefill_tokens_per_s for e in endpoints if e.prefill_tokens_per_s]
    if not known:
        return {}
    default = sum(known) / len(known)
    prompt_tokens = ctx.request.prompt_tokens
    pm = ctx.prefix
    # PrefixMatch.cached_share, inlined: this loop runs per endpoint on every latency-tier decision
    credited = pm.credited_chars if pm is not None and pm.prompt_chars else {}
    prompt_chars = pm.prompt_chars if pm is not None else 0
    out: dict[str, float] = {}
    for e in endpoints:
        cached = credited.get(e.id, 0)
        uncached = prompt_tokens * (1.0 - min(1.0, cached / prompt_chars)) if cached else prompt_tokens
        out[e.id] = (e.queued_prefill_tokens + uncached) / (e.prefill_tokens_per_s or default)
    return out


class ExpectedTtftScorer(Plugin[ExpectedTtftParams]):
    type_name = "expected-ttft-scorer"

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]:
        every = expected_ttft_s(ctx, endpoints)
        if not every:
            return {}
        ttft = {e.id: every[e.id] for e in endpoints if e.id in every}
        tol = self.params.toleranceSeconds
        best = min(ttft.values()) + tol
        return {k: best / (t + tol) for k, t in ttft.items()}
