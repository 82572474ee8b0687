"""The arithmetic of the weight controller: what one replica did in an interval, what it could
do, and how group shares move (pure functions; the controller in weights.py sequences them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from heteropool.vendors import ACCELERATOR_CAPACITY_TOKENS_PER_S, VENDOR_PROFILES, prior_capacity_tokens_per_s
from heteropool.vllm_metrics import EngineSample, HistogramTotals

__all__ = [
    "IntervalRates",
    "measure_interval",
    "estimate_capacity",
    "apply_floor",
    "damp_shares",
    "prior_from_name",
]


# --- one interval of one replica ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntervalRates:
    """What a replica did between two scrapes."""

    dt_s: float
    output_tokens_per_s: float
    prompt_tokens_per_s: float | None
    decode_tokens_per_s_per_seq: float | None  # None: too few decoded tokens to measure
    mean_decode_batch: float | None
    prefill_tokens_per_s_per_seq: float | None  # uncached prompt tokens per second of prefill
    mean_context_tokens: float | None  # prompt + half the output, per finished request


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _hist_delta(a: HistogramTotals | None, b: HistogramTotals | None) -> tuple[float, float] | None:
    return None if a is None or b is None else (b.sum - a.sum, b.count - a.count)


def measure_interval(
    prev: EngineSample, cur: EngineSample, dt_s: float, *, min_decode_tokens: int = 32
) -> IntervalRates | None:
    """Rates between two samples of one replica; None when a counter went backwards (a restart)."""
    if dt_s <= 0:
        return None
    gen = _delta(prev.generation_tokens_total, cur.generation_tokens_total)
    prompt = _delta(prev.prompt_tokens_total, cur.prompt_tokens_total)
    hits = _delta(prev.prefix_cache_hits_total, cur.prefix_cache_hits_total)
    itl = _hist_delta(prev.inter_token_latency, cur.inter_token_latency)
    e2e = _hist_delta(prev.e2e_latency, cur.e2e_latency)
    prefill = _hist_delta(prev.prefill_time, cur.prefill_time) or _hist_delta(prev.ttft, cur.ttft)
    deltas = [d for d in (gen, prompt, hits) if d is not None]
    deltas += [x for pair in (itl, e2e, prefill) if pair is not None for x in pair]
    if gen is None or any(d < 0 for d in deltas):
        return None
    speed = batch = None
    if itl is not None and itl[1] >= min_decode_tokens and itl[0] > 0:
        speed = itl[1] / itl[0]
        batch = gen / dt_s / speed
    prefill_speed = None
    if prompt is not None and prefill is not None and prefill[0] > 0:
        prefill_speed = max(0.0, prompt - (hits or 0.0)) / prefill[0]
    context = None
    if e2e is not None and e2e[1] > 0 and prompt is not None:
        context = (prompt + gen / 2) / e2e[1]
    return IntervalRates(
        dt_s=dt_s,
        output_tokens_per_s=gen / dt_s,
        prompt_tokens_per_s=None if prompt is None else prompt / dt_s,
        decode_tokens_per_s_per_seq=speed,
        mean_decode_batch=batch,
        prefill_tokens_per_s_per_seq=prefill_speed,
        mean_context_tokens=context,
    )


def estimate_capacity(
    rates: IntervalRates, *, kv_capacity_tokens: int | None, max_batch: int, context_tokens: float | None = None
) -> tuple[float, float] | None:
    """(output tokens/s the replica can serve, its utilization) from one interval; None if unmeasured.

    capacity = per-sequence decode speed x the batch it can hold, where the batch is
    `min(max_batch, KV tokens / tokens per sequence)` (never below the batch it actually ran).
    """
    speed = rates.decode_tokens_per_s_per_seq
    if speed is None:
        return None
    context = rates.mean_context_tokens or context_tokens
    hold = float(max_batch)
    if kv_capacity_tokens and context:
        hold = min(hold, kv_capacity_tokens / context)
    ran = rates.mean_decode_batch or 0.0
    hold = max(hold, ran, 1.0)
    return speed * hold, ran / hold


# --- shares ------------------------------------------------------------------------------------


def apply_floor(shares: Mapping[str, float], floor: float) -> dict[str, float]:
    """Shares summing to 1 where none is below `floor` (the others shrink proportionally)."""
    n = len(shares)
    if n == 0:
        return {}
    total = sum(shares.values())
    if total <= 0 or floor * n >= 1:
        return {k: 1.0 / n for k in shares}
    out = {k: v / total for k, v in shares.items()}
    pinned: set[str] = set()
    while True:
        free = sum(v for k, v in out.items() if k not in pinned)
        scale = (1.0 - floor * len(pinned)) / free if free > 0 else 0.0
        low = {k for k, v in out.items() if k not in pinned and v * scale < floor}
        if not low:
            return {k: floor if k in pinned else v * scale for k, v in out.items()}
        pinned |= low
        for k in low:
            out[k] = floor


def damp_shares(previous: Mapping[str, float], target: Mapping[str, float], *, max_step: float) -> dict[str, float]:
    """Move from `previous` toward `target` (both over the same keys, summing to 1) by the largest
    fraction that changes no share by more than `max_step` of its previous value.

    Interpolating keeps the sum at 1, so the bound holds exactly; groups new in `target` start at
    their target (there is nothing to damp from).
    """
    if not target:
        return {}
    new = {k: t for k, t in target.items() if previous.get(k, 0.0) <= 0}
    kept = {k: previous[k] for k in target if k not in new}
    room = 1.0 - sum(new.values())
    total = sum(kept.values())
    prev = {**{k: v * room / total for k, v in kept.items()}, **new} if total > 0 else dict(target)
    fraction = 1.0
    for k, t in target.items():
        gap = abs(t - prev[k])
        if gap > 0 and prev[k] > 0:
            fraction = min(fraction, max_step * prev[k] / gap)
    return {k: prev[k] + fraction * (target[k] - prev[k]) for k in target}


def prior_from_name(name: str, accelerators_per_replica: int = 1) -> float | None:
    """Capacity prior for a vendor or accelerator name (`nvidia`, `gaudi3`, `sim-mi325x`), or None."""
    key = name.lower()
    if key in ACCELERATOR_CAPACITY_TOKENS_PER_S:
        return prior_capacity_tokens_per_s(key, accelerators_per_replica)
    aliases = {"gaudi": "intel-gaudi", "intel": "intel-gaudi", "rocm": "amd", "cuda": "nvidia"}
    if aliases.get(key, key) in VENDOR_PROFILES and aliases.get(key, key) != "sim":
        profile = VENDOR_PROFILES[aliases.get(key, key)]
        return prior_capacity_tokens_per_s(profile.default_accelerator, accelerators_per_replica)
    for acc in sorted(ACCELERATOR_CAPACITY_TOKENS_PER_S, key=len, reverse=True):
        family = acc.split("-")[0]  # h100-nvl -> h100
        if acc != "cpu" and (acc in key or family in key.replace("_", "-").split("-")):
            return prior_capacity_tokens_per_s(acc, accelerators_per_replica)
    return None
