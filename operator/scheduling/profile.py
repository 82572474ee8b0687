"""Scheduling profiles: the spec (data) and the runner that implements the `Router` protocol.

The runner enforces the invariants so plugins stay tiny (llm-d `scheduler_profile.go`): it runs
producers once, stops when a filter empties the set, clamps every score to [0, 1], sums
`score x weight` with weights normalised to 1, and hands the totals to the picker.

A profile may name priority tiers: `latency` (requests of priority > 0) and `fill` (< 0), each
with its own filters and scorers; they share the profile's producers (one prefix index) and
picker, and requests of priority 0 run the profile itself (`TieredRouter`).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heteropool.routing import EndpointView, NoEndpointError, Router, RouteRequest
from heteropool.scheduling.errors import ConfigError
from heteropool.scheduling.framework import CycleContext, Filter, Picker, Producer, Scorer
from heteropool.scheduling.registry import PluginKind, Registry
from heteropool.validation import first_problem

__all__ = ["PluginRef", "TierSpec", "ProfileSpec", "ProfileRouter", "TieredRouter", "TIERS", "build_profile"]

TIERS: tuple[Literal["latency", "fill"], ...] = ("latency", "fill")
"""Tier names: `latency` routes requests of priority > 0, `fill` those of priority < 0."""

_PENDING_MAX = 8192


class PluginRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: str | None = None
    weight: float = Field(1.0, ge=0)
    parameters: dict[str, Any] = Field(default_factory=dict)

    @property
    def ref(self) -> str:
        return self.name or self.type


class TierSpec(BaseModel):
    """A priority tier's own filters and scorers (producers and picker are the profile's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filters: list[PluginRef] = Field(default_factory=list)
    scorers: list[PluginRef] = Field(default_factory=list)


class ProfileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    producers: list[PluginRef] = Field(default_factory=list)
    filters: list[PluginRef] = Field(default_factory=list)
    scorers: list[PluginRef] = Field(default_factory=list)
    picker: PluginRef
    tiers: dict[Literal["latency", "fill"], TierSpec] = Field(default_factory=dict)


class ProfileRouter:
    """A `Router` built from a profile: producers -> filters -> weighted scorers -> picker."""

    def __init__(
        self,
        name: str,
        producers: Sequence[Producer],
        filters: Sequence[Filter],
        scorers: Sequence[tuple[Scorer, float]],
        picker: Picker,
    ) -> None:
        self.name = name
        self._producers = tuple(producers)
        self._filters = tuple(filters)
        total = sum(w for _, w in scorers) or 1.0
        self._scorers = tuple((s, w / total) for s, w in scorers if w > 0)
        self._picker = picker
        # request id -> (context, endpoints) between pick and on_routed/on_finished.
        self._pending: OrderedDict[str, tuple[CycleContext, Sequence[EndpointView]]] = OrderedDict()

    def pick(self, request: RouteRequest, endpoints: Sequence[EndpointView]) -> str:
        if not endpoints:
            raise NoEndpointError("no endpoint available")
        ctx = CycleContext(request)
        for producer in self._producers:
            producer.produce(ctx, endpoints)
        candidates = endpoints
        for f in self._filters:
            candidates = f.filter(ctx, candidates)
            if not candidates:
                raise NoEndpointError(f"filter {f.type_name} left no endpoint", saturated=True)
        if len(candidates) == 1:
            chosen = candidates[0]
        else:
            n = len(candidates)
            totals = [0.0] * n
            for scorer, weight in self._scorers:
                scores = scorer.score(ctx, candidates)
                if not scores:
                    continue
                get = scores.get
                for i in range(n):
                    v = get(candidates[i].id)
                    if v:
                        totals[i] += weight * (1.0 if v > 1.0 else 0.0 if v < 0.0 else v)
            chosen = self._picker.pick(ctx, candidates, totals)
        pending = self._pending
        pending[request.request_id] = (ctx, endpoints)
        if len(pending) > _PENDING_MAX:
            pending.popitem(last=False)
        return chosen.id

    def prefix_share(self, request: RouteRequest, endpoint_id: str) -> float | None:
        """Estimated cached share of the prompt on endpoint_id (None if the policy has no index)."""
        entry = self._pending.get(request.request_id)
        if entry is None or entry[0].prefix is None:
            return None
        return entry[0].prefix.cached_share(endpoint_id)

    def on_routed(self, request: RouteRequest, endpoint_id: str) -> None:
        entry = self._pending.pop(request.request_id, None)
        if entry is None or not self._producers:
            return
        ctx, endpoints = entry
        view = next((e for e in endpoints if e.id == endpoint_id), None)
        for producer in self._producers:
            producer.on_routed(ctx, view, endpoint_id)

    def on_finished(self, request: RouteRequest, endpoint_id: str, *, ok: bool) -> None:
        self._pending.pop(request.request_id, None)

    def on_endpoints_removed(self, endpoint_ids: Sequence[str]) -> None:
        for producer in self._producers:
            producer.forget(endpoint_ids)


class TieredRouter:
    """A `Router` that sends each request through its priority's tier (the profile itself at 0).

    The tiers share producers, so whichever tier routed a prompt, every tier sees where it is cached.
    """

    def __init__(self, name: str, base: ProfileRouter, latency: ProfileRouter, fill: ProfileRouter) -> None:
        self.name = name
        self._base, self._latency, self._fill = base, latency, fill

    def _tier(self, request: RouteRequest) -> ProfileRouter:
        p = request.priority
        return self._base if p == 0 else self._latency if p > 0 else self._fill

    def pick(self, request: RouteRequest, endpoints: Sequence[EndpointView]) -> str:
        return self._tier(request).pick(request, endpoints)

    def prefix_share(self, request: RouteRequest, endpoint_id: str) -> float | None:
        return self._tier(request).prefix_share(request, endpoint_id)

    def on_routed(self, request: RouteRequest, endpoint_id: str) -> None:
        self._tier(request).on_routed(request, endpoint_id)

    def on_finished(self, request: RouteRequest, endpoint_id: str, *, ok: bool) -> None:
        self._tier(request).on_finished(request, endpoint_id, ok=ok)

    def on_endpoints_removed(self, endpoint_ids: Sequence[str]) -> None:
        self._base.on_endpoints_removed(endpoint_ids)  # the producers (all the state) are shared


def build_profile(
    registry: Registry, name: str, spec: ProfileSpec | Mapping[str, Any], *, seed: int = 0, path: str | None = None
) -> Router:
    """Instantiate a profile; every error is a ConfigError naming the path."""
    path = path or f"profiles.{name}"
    if not isinstance(spec, ProfileSpec):
        try:
            spec = ProfileSpec.model_validate(dict(spec))
        except ValidationError as exc:
            raise ConfigError(*first_problem(exc, path)) from None
    rng = random.Random(seed)

    def build(kind: PluginKind, refs: Sequence[PluginRef], where: str) -> list[Any]:
        return [registry.build(kind, r.type, r.parameters, f"{where}[{i}]", rng) for i, r in enumerate(refs)]

    def weighted(refs: Sequence[PluginRef], where: str) -> list[tuple[Any, float]]:
        return list(zip(build("scorer", refs, where), [r.weight for r in refs], strict=True))

    producers = build("producer", spec.producers, f"{path}.producers")
    filters = build("filter", spec.filters, f"{path}.filters")
    scorers = weighted(spec.scorers, f"{path}.scorers")
    picker = registry.build("picker", spec.picker.type, spec.picker.parameters, f"{path}.picker", rng)
    if producers == []:
        for i, (scorer, _) in enumerate(scorers):
            if "prefix" in scorer.consumes:
                raise ConfigError(f"{path}.scorers[{i}]", f"{scorer.type_name!r} needs a prefix producer in producers")
    base = ProfileRouter(name, producers, filters, scorers, picker)
    if not spec.tiers:
        return base
    tiers = {}
    for tier in TIERS:
        t = spec.tiers.get(tier)
        if t is None:
            tiers[tier] = base
            continue
        where = f"{path}.tiers.{tier}"
        tiers[tier] = ProfileRouter(
            f"{name}/{tier}",
            producers,
            build("filter", t.filters, f"{where}.filters"),
            weighted(t.scorers, f"{where}.scorers"),
            picker,
        )
    return TieredRouter(name, base, tiers["latency"], tiers["fill"])
