"""Plugin registry: plugin type name -> class + strict parameter model; built-ins registered once.

The registry is an object owned by whoever builds routers (gateway app, fleet simulation); there
is no module-level singleton. Unknown types and parameters are `ConfigError`s naming the path.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from heteropool.scheduling.errors import ConfigError
from heteropool.validation import first_problem

__all__ = ["PluginKind", "Registry", "register_builtins"]

PluginKind = Literal["producer", "filter", "scorer", "picker"]


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: PluginKind
    cls: type[Any]
    params: type[BaseModel]
    needs_rng: bool


class Registry:
    """Maps plugin type names to their classes and parameter models."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, kind: PluginKind, cls: type[Any], params: type[BaseModel], *, needs_rng: bool = False) -> None:
        name: str = cls.type_name
        if name in self._entries:
            raise ValueError(f"plugin type {name!r} registered twice")
        self._entries[name] = _Entry(kind, cls, params, needs_rng)

    def types(self, kind: PluginKind | None = None) -> list[str]:
        return sorted(n for n, e in self._entries.items() if kind is None or e.kind == kind)

    def build(
        self, kind: PluginKind, type_name: str, parameters: Mapping[str, Any], path: str, rng: random.Random
    ) -> Any:
        """Instantiate a plugin; raises ConfigError naming `path` on any problem."""
        entry = self._entries.get(type_name)
        if entry is None:
            raise ConfigError(f"{path}.type", f"unknown plugin type {type_name!r}")
        if entry.kind != kind:
            raise ConfigError(f"{path}.type", f"{type_name!r} is a {entry.kind}, not a {kind}")
        try:
            params = entry.params.model_validate(dict(parameters))
        except ValidationError as exc:
            raise ConfigError(*first_problem(exc, f"{path}.parameters")) from None
        return entry.cls(params, rng) if entry.needs_rng else entry.cls(params)


def register_builtins(registry: Registry) -> Registry:
    """Register every built-in plugin (the one place that lists them)."""
    from heteropool.scheduling.plugins.filters.fill_headroom import FillHeadroomFilter, FillHeadroomParams
    from heteropool.scheduling.plugins.filters.weight import WeightFilter, WeightFilterParams
    from heteropool.scheduling.plugins.pickers.max_score import MaxScoreParams, MaxScorePicker
    from heteropool.scheduling.plugins.pickers.round_robin import RoundRobinParams, RoundRobinPicker
    from heteropool.scheduling.plugins.producers.approx_prefix import ApproxPrefixCacheProducer, ApproxPrefixParams
    from heteropool.scheduling.plugins.producers.block_prefix import BlockPrefixParams, BlockPrefixProducer
    from heteropool.scheduling.plugins.scorers.capacity_load import CapacityLoadParams, CapacityLoadScorer
    from heteropool.scheduling.plugins.scorers.expected_ttft import ExpectedTtftParams, ExpectedTtftScorer
    from heteropool.scheduling.plugins.scorers.kv_cache_utilization import (
        KvCacheUtilizationParams,
        KvCacheUtilizationScorer,
    )
    from heteropool.scheduling.plugins.scorers.least_request import LeastRequestParams, LeastRequestScorer
    from heteropool.scheduling.plugins.scorers.prefix_affinity import PrefixAffinityParams, PrefixAffinityScorer
    from heteropool.scheduling.plugins.scorers.prefix_cache import PrefixCacheParams, PrefixCacheScorer
    from heteropool.scheduling.plugins.scorers.queue import QueueParams, QueueScorer
    from heteropool.scheduling.plugins.scorers.spare_hardware import SpareHardwareParams, SpareHardwareScorer

    registry.register("producer", ApproxPrefixCacheProducer, ApproxPrefixParams)
    registry.register("producer", BlockPrefixProducer, BlockPrefixParams)
    registry.register("filter", WeightFilter, WeightFilterParams)
    registry.register("filter", FillHeadroomFilter, FillHeadroomParams)
    registry.register("scorer", PrefixCacheScorer, PrefixCacheParams)
    registry.register("scorer", PrefixAffinityScorer, PrefixAffinityParams)
    registry.register("scorer", QueueScorer, QueueParams)
    registry.register("scorer", KvCacheUtilizationScorer, KvCacheUtilizationParams)
    registry.register("scorer", LeastRequestScorer, LeastRequestParams)
    registry.register("scorer", CapacityLoadScorer, CapacityLoadParams)
    registry.register("scorer", ExpectedTtftScorer, ExpectedTtftParams)
    registry.register("scorer", SpareHardwareScorer, SpareHardwareParams)
    registry.register("picker", MaxScorePicker, MaxScoreParams, needs_rng=True)
    registry.register("picker", RoundRobinPicker, RoundRobinParams, needs_rng=True)
    return registry
