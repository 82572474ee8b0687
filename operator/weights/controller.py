"""Capacity estimates and routing weights from vLLM metric samples (pure: no I/O, times passed in).

The trap (docs/weights.md, "The estimate, and why not throughput"): the output tokens/s a pod shows
is what the router sent it, so weights proportional to observed throughput starve whoever got less
(positive feedback). The estimate is therefore per-sequence decode speed (the inter-token-latency
histogram: how fast each running sequence advanced over the interval, prefill interference included,
since vLLM runs prefill chunks inside the same steps) times the batch the pod can hold (KV tokens /
tokens per sequence, capped by max-num-seqs). Observed tokens/s divided by how busy the pod was
(mean decode batch / batch it can hold) is the same number. A starved pod's few sequences run fast,
so it is never judged slow; a loaded pod's run slower, which pulls its estimate down: negative
feedback. Estimates are smoothed (EWMA), group shares move at most `max_step` (relative) per
interval and never below `floor`, and an endpoint with no usable data falls back to its vendor
prior, scaled to the units the measured endpoints show (so a time-scaled simulator and a prior in
real tokens/s still compare).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from heteropool.api import WeightsSpec, parse_duration_s
from heteropool.routing_document import capacity_multiplier
from heteropool.vendors import group_prior_tokens_per_s  # re-exported: the prior of a pool's vendor group
from heteropool.vllm_metrics import EngineSample, ScrapeError
from heteropool.weights.capacity import IntervalRates, apply_floor, damp_shares, estimate_capacity, measure_interval

__all__ = [
    "WeightSettings",
    "ScrapeTarget",
    "EndpointEstimate",
    "GroupEstimate",
    "WeightMove",
    "WeightUpdate",
    "WeightController",
    "group_prior_tokens_per_s",
]


@dataclass(frozen=True, slots=True)
class WeightSettings:
    """Knobs of the weight controller. Durations in seconds; `None` defaults derive from the interval.

    stale_after_s: a replica whose last good scrape is older is marked stale (default 2.5 intervals).
    prior_after_s: an estimate with no usable data for this long falls back to the prior
        (default 8 intervals); covers failed scrapes and replicas that got no traffic alike.
    event_fraction: relative move of a group weight (since its last reported move) that is reported
        in `WeightUpdate.moved` (an Event).
    publish_threshold: absolute change of any share (group or endpoint) that makes `changed` true;
        capacity_threshold: the same for a relative change of an endpoint's capacity.
    smoothing: EWMA weight of a new capacity sample (1 = no smoothing).
    max_batch: max-num-seqs assumed when a target does not say (vLLM's default on Gaudi, and a
        conservative one on GPUs).
    min_decode_tokens: fewer decoded tokens in an interval are too few to measure speed.
    static_weights: group -> relative weight; set = static mode (scraping still reports capacity).
    """

    interval_s: float = 15.0
    floor: float = 0.02
    max_step: float = 0.25
    stale_after_s: float | None = None
    prior_after_s: float | None = None
    event_fraction: float = 0.2
    publish_threshold: float = 0.01
    capacity_threshold: float = 0.05
    timeout_s: float | None = None
    smoothing: float = 0.6
    max_batch: int = 256
    min_decode_tokens: int = 32
    static_weights: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        checks = (
            ("interval_s", self.interval_s > 0, "must be > 0"),
            ("floor", 0 <= self.floor < 0.5, "must be in [0, 0.5)"),
            ("max_step", 0 < self.max_step <= 1, "must be in (0, 1]"),
            ("event_fraction", self.event_fraction > 0, "must be > 0"),
            ("publish_threshold", self.publish_threshold >= 0, "must be >= 0"),
            ("capacity_threshold", self.capacity_threshold >= 0, "must be >= 0"),
            ("smoothing", 0 < self.smoothing <= 1, "must be in (0, 1]"),
            ("max_batch", self.max_batch >= 1, "must be >= 1"),
            ("min_decode_tokens", self.min_decode_tokens >= 1, "must be >= 1"),
        )
        for name, ok, problem in checks:
            if not ok:
                raise ValueError(f"{name}: {problem}, got {getattr(self, name)!r}")
        if self.stale_after_s is None:
            object.__setattr__(self, "stale_after_s", 2.5 * self.interval_s)
        if self.prior_after_s is None:
            object.__setattr__(self, "prior_after_s", 8.0 * self.interval_s)
        if self.timeout_s is None:
            object.__setattr__(self, "timeout_s", min(5.0, self.interval_s / 2))
        for name in ("stale_after_s", "prior_after_s", "timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        if self.static_weights is not None:
            bad = {k: v for k, v in self.static_weights.items() if not v >= 0}
            if bad or not self.static_weights:
                raise ValueError(f"static_weights: need one weight >= 0 per group, got {dict(self.static_weights)!r}")

    @property
    def mode(self) -> Literal["auto", "static"]:
        return "static" if self.static_weights is not None else "auto"

    @classmethod
    def from_spec(cls, spec: WeightsSpec, **overrides: Any) -> WeightSettings:
        """Settings of a pool's `spec.weights` (interval, floor, maxStep, static weights in static mode)."""
        static = dict(spec.static) if spec.mode == "static" and spec.static else None
        values: dict[str, Any] = {
            "interval_s": parse_duration_s(spec.interval),
            "floor": spec.floor,
            "max_step": spec.max_step,
            "static_weights": static,
        }
        return cls(**{**values, **overrides})


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """One ready vLLM replica to scrape: `url` is its base URL (`/metrics` is appended)."""

    endpoint_id: str
    url: str
    group: str
    vendor: str
    prior_capacity_tokens_per_s: float
    block_size: int | None = None
    max_num_seqs: int | None = None

    def __post_init__(self) -> None:
        if not self.prior_capacity_tokens_per_s > 0:
            raise ValueError(f"{self.endpoint_id}: prior_capacity_tokens_per_s must be > 0")


# --- the controller ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointEstimate:
    """One replica after an update. Times are the controller's clock (epoch seconds in the operator).

    share: fraction of the pool's traffic for this replica (all shares sum to 1).
    capacity_multiplier: the endpoint entry's `capacityMultiplier` (the picker routes by capacity x
        multiplier, so this is share / capacity share: 1.0 unless damping, the floor or static weights apply).
    source: `measured`, or `prior` when no usable data is recent enough.
    """

    endpoint_id: str
    url: str
    group: str
    vendor: str
    capacity_tokens_per_s: float
    prior_capacity_tokens_per_s: float
    source: Literal["measured", "prior"]
    share: float
    capacity_multiplier: float
    observed_tokens_per_s: float | None
    utilization: float | None
    decode_tokens_per_s_per_seq: float | None
    prefill_tokens_per_s_per_seq: float | None
    block_size: int | None
    kv_capacity_tokens: int | None
    stale: bool
    last_scrape_at: float | None
    scrape_errors_total: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class GroupEstimate:
    """One vendor group: `share` is its share of traffic (shares sum to 1 over groups with ready
    replicas); `capacity_tokens_per_s` is per replica (mean), `observed_tokens_per_s` the sum."""

    group: str
    vendor: str
    share: float
    capacity_tokens_per_s: float
    observed_tokens_per_s: float | None
    ready_replicas: int
    stale_replicas: int
    last_scrape_at: float | None
    block_size: int | None

    @property
    def stale(self) -> bool:
        return self.stale_replicas > 0


@dataclass(frozen=True, slots=True)
class WeightMove:
    """A group weight that moved by more than `event_fraction` since its last reported move."""

    group: str
    old: float
    new: float


@dataclass(frozen=True, slots=True)
class WeightUpdate:
    """The result of one interval: everything the operator publishes (ConfigMap, status, metrics, Events).

    changed: shares or capacities moved beyond the thresholds (or membership or staleness changed)
        since the last update that said `changed`; publish when true. `generation` counts those.
    scrape_errors: this interval's failures, endpoint id -> message.
    """

    at: float
    mode: Literal["auto", "static"]
    generation: int
    changed: bool
    endpoints: Mapping[str, EndpointEstimate]
    groups: Mapping[str, GroupEstimate]
    moved: tuple[WeightMove, ...] = ()
    scrape_errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def shares(self) -> dict[str, float]:
        return {g: e.share for g, e in self.groups.items()}

    @property
    def stale(self) -> bool:
        return any(e.stale for e in self.endpoints.values())

    @property
    def stale_message(self) -> str | None:
        """The message of the `MetricsStale` condition; None when every scrape is recent."""
        stale = [e for e in self.endpoints.values() if e.stale]
        if not stale:
            return None
        detail = "; ".join(f"{e.group}/{e.endpoint_id}: {e.last_error or 'no recent scrape'}" for e in stale[:5])
        more = f" (+{len(stale) - 5} more)" if len(stale) > 5 else ""
        return (
            f"metrics of {len(stale)} of {len(self.endpoints)} replicas are stale; keeping their last "
            f"estimate, then the vendor prior: {detail}{more}"
        )


@dataclass(slots=True)
class _Replica:
    target: ScrapeTarget
    sample: EngineSample | None = None
    sample_at: float | None = None
    capacity: float | None = None
    measured_at: float | None = None
    utilization: float | None = None
    rates: IntervalRates | None = None
    prefill: float | None = None  # smoothed uncached prompt tokens/s per sequence
    context_tokens: float | None = None
    observed: float | None = None
    observed_at: float | None = None
    errors_total: int = 0
    last_error: str | None = None
    failing: bool = False


class WeightController:
    """Per-pool state: one `update` per interval turns scrape results into a `WeightUpdate`.

    Pure: it is given the targets, each target's `EngineSample` or `ScrapeError`, and the time.
    """

    def __init__(self, settings: WeightSettings) -> None:
        self.settings = settings
        self._replicas: dict[str, _Replica] = {}
        self._shares: dict[str, float] = {}
        self._published: WeightUpdate | None = None
        self._event_base: dict[str, float] = {}
        self._generation = 0

    def mark_unpublished(self) -> None:
        """The last `changed` update was not published (e.g. the write failed): report the next as changed."""
        self._published = None

    def update(
        self,
        targets: Sequence[ScrapeTarget],
        results: Mapping[str, EngineSample | ScrapeError],
        now: float,
    ) -> WeightUpdate:
        """Fold one interval's scrape results in and compute shares.

        Targets that are new are tracked from now on; replicas absent from `targets` are forgotten.
        A target without a result (not scraped) keeps its state.
        """
        self._sync(targets)
        errors: dict[str, str] = {}
        for t in targets:
            result = results.get(t.endpoint_id)
            if isinstance(result, EngineSample):
                self._observe(self._replicas[t.endpoint_id], result, now)
            elif isinstance(result, ScrapeError):
                rep = self._replicas[t.endpoint_id]
                rep.errors_total += 1
                rep.last_error = errors[t.endpoint_id] = str(result)
                rep.failing = True
        capacities, sources = self._capacities(now)
        groups = self._group_shares(capacities)
        update = self._assemble(now, capacities, sources, groups, errors)
        return self._decide(update)

    # --- internals ------------------------------------------------------------------------------
    def _sync(self, targets: Iterable[ScrapeTarget]) -> None:
        wanted = {t.endpoint_id: t for t in targets}
        for gone in [k for k in self._replicas if k not in wanted]:
            del self._replicas[gone]
        for key, t in wanted.items():
            rep = self._replicas.get(key)
            if rep is None:
                self._replicas[key] = _Replica(target=t)
            elif rep.target != t:
                rep.target = t

    def _observe(self, rep: _Replica, sample: EngineSample, now: float) -> None:
        s = self.settings
        prev, prev_at = rep.sample, rep.sample_at
        rep.sample, rep.sample_at, rep.failing, rep.last_error = sample, now, False, None
        if prev is None or prev_at is None:
            return
        rates = measure_interval(prev, sample, now - prev_at, min_decode_tokens=s.min_decode_tokens)
        if rates is None:  # counters went backwards: the replica restarted; this sample is the new base
            return
        rep.observed, rep.observed_at, rep.rates = rates.output_tokens_per_s, now, rates
        if rates.mean_context_tokens is not None:
            rep.context_tokens = rates.mean_context_tokens
        if rates.prefill_tokens_per_s_per_seq:  # an interval without prefills keeps the last value
            p = rates.prefill_tokens_per_s_per_seq
            rep.prefill = p if rep.prefill is None else s.smoothing * p + (1 - s.smoothing) * rep.prefill
        est = estimate_capacity(
            rates,
            kv_capacity_tokens=sample.kv_capacity_tokens,
            max_batch=rep.target.max_num_seqs or s.max_batch,
            context_tokens=rep.context_tokens,
        )
        if est is None:
            return
        value, rep.utilization = est
        assert s.prior_after_s is not None  # set by WeightSettings.__post_init__
        old, at = rep.capacity, rep.measured_at
        fresh = old is not None and at is not None and now - at <= s.prior_after_s
        rep.capacity = s.smoothing * value + (1 - s.smoothing) * old if fresh and old is not None else value
        rep.measured_at = now

    def _capacities(self, now: float) -> tuple[dict[str, float], dict[str, Literal["measured", "prior"]]]:
        limit = self.settings.prior_after_s
        assert limit is not None  # set by WeightSettings.__post_init__
        measured = {
            k: r.capacity
            for k, r in self._replicas.items()
            if r.capacity is not None and r.measured_at is not None and now - r.measured_at <= limit
        }
        # Priors are in real tokens/s; measurements may run at another scale (a time-scaled
        # simulator, a different model): calibrate priors by the measured replicas' median ratio.
        ratios = [c / self._replicas[k].target.prior_capacity_tokens_per_s for k, c in measured.items()]
        scale = statistics.median(ratios) if ratios else 1.0
        capacities: dict[str, float] = {}
        sources: dict[str, Literal["measured", "prior"]] = {}
        for k, r in self._replicas.items():
            if k in measured:
                capacities[k], sources[k] = measured[k], "measured"
            else:
                capacities[k], sources[k] = r.target.prior_capacity_tokens_per_s * scale, "prior"
        return capacities, sources

    def _group_shares(self, capacities: Mapping[str, float]) -> dict[str, float]:
        s = self.settings
        raw: dict[str, float] = {}
        for k, c in capacities.items():
            g = self._replicas[k].target.group
            raw[g] = raw.get(g, 0.0) + c
        if not raw:
            self._shares = {}
            return {}
        if s.static_weights is not None:
            static = {g: float(s.static_weights.get(g, 0.0)) for g in raw}
            total = sum(static.values())
            shares = {g: (v / total if total > 0 else 1.0 / len(static)) for g, v in static.items()}
        else:
            total = sum(raw.values())
            target = {g: v / total for g, v in raw.items()}
            shares = apply_floor(damp_shares(self._shares, target, max_step=s.max_step), s.floor)
        self._shares = shares
        return shares

    def _assemble(
        self,
        now: float,
        capacities: Mapping[str, float],
        sources: Mapping[str, Literal["measured", "prior"]],
        groups: Mapping[str, float],
        errors: Mapping[str, str],
    ) -> WeightUpdate:
        s = self.settings
        assert s.stale_after_s is not None  # set by WeightSettings.__post_init__
        static = s.static_weights is not None
        members: dict[str, list[str]] = {}
        for k, r in self._replicas.items():
            members.setdefault(r.target.group, []).append(k)
        total_capacity = sum(capacities.values())
        endpoints: dict[str, EndpointEstimate] = {}
        group_out: dict[str, GroupEstimate] = {}
        for g, keys in members.items():
            group_capacity = sum(capacities[k] for k in keys)
            observed = [
                r.observed for r in (self._replicas[k] for k in keys) if r.observed_at == now and r.observed is not None
            ]
            stale_count = 0
            last_at: float | None = None
            for k in keys:
                r = self._replicas[k]
                share = groups[g] / len(keys) if static else groups[g] * capacities[k] / group_capacity
                stale = r.failing and (r.sample_at is None or now - r.sample_at > s.stale_after_s)
                stale_count += stale
                if r.sample_at is not None:
                    last_at = r.sample_at if last_at is None else max(last_at, r.sample_at)
                t = r.target
                endpoints[k] = EndpointEstimate(
                    endpoint_id=k,
                    url=t.url,
                    group=g,
                    vendor=t.vendor,
                    capacity_tokens_per_s=capacities[k],
                    prior_capacity_tokens_per_s=t.prior_capacity_tokens_per_s,
                    source=sources[k],
                    share=share,
                    capacity_multiplier=capacity_multiplier(share, capacities[k], total_capacity),
                    observed_tokens_per_s=r.observed if r.observed_at == now else None,
                    utilization=r.utilization if sources[k] == "measured" else None,
                    decode_tokens_per_s_per_seq=r.rates.decode_tokens_per_s_per_seq if r.rates else None,
                    prefill_tokens_per_s_per_seq=r.prefill,
                    block_size=(r.sample.block_size if r.sample is not None else None) or t.block_size,
                    kv_capacity_tokens=r.sample.kv_capacity_tokens if r.sample is not None else None,
                    stale=stale,
                    last_scrape_at=r.sample_at,
                    scrape_errors_total=r.errors_total,
                    last_error=r.last_error,
                )
            first = self._replicas[keys[0]].target
            group_out[g] = GroupEstimate(
                group=g,
                vendor=first.vendor,
                share=groups[g],
                capacity_tokens_per_s=group_capacity / len(keys),
                observed_tokens_per_s=sum(observed) if observed else None,
                ready_replicas=len(keys),
                stale_replicas=stale_count,
                last_scrape_at=last_at,
                block_size=endpoints[keys[0]].block_size,
            )
        return WeightUpdate(
            at=now,
            mode=s.mode,
            generation=self._generation,
            changed=False,
            endpoints=endpoints,
            groups=group_out,
            scrape_errors=dict(errors),
        )

    def _decide(self, update: WeightUpdate) -> WeightUpdate:
        if not self._differs(self._published, update):
            assert self._published is not None
            return replace(update, generation=self._published.generation)
        self._generation += 1
        moved: list[WeightMove] = []
        for g, est in update.groups.items():
            base = self._event_base.get(g)
            if base is None:
                self._event_base[g] = est.share
            elif abs(est.share - base) > self.settings.event_fraction * max(base, 1e-9):
                moved.append(WeightMove(g, base, est.share))
                self._event_base[g] = est.share
        for g in [g for g in self._event_base if g not in update.groups]:
            del self._event_base[g]
        update = replace(update, generation=self._generation, changed=True, moved=tuple(moved))
        self._published = update
        return update

    def _differs(self, old: WeightUpdate | None, new: WeightUpdate) -> bool:
        if old is None or old.endpoints.keys() != new.endpoints.keys() or old.groups.keys() != new.groups.keys():
            return True
        s = self.settings
        for g, group in new.groups.items():
            if abs(group.share - old.groups[g].share) > s.publish_threshold:
                return True
        for k, e in new.endpoints.items():
            o = old.endpoints[k]
            if abs(e.share - o.share) > s.publish_threshold or e.stale != o.stale or e.block_size != o.block_size:
                return True
            if abs(e.capacity_tokens_per_s - o.capacity_tokens_per_s) > s.capacity_threshold * o.capacity_tokens_per_s:
                return True
        return False
