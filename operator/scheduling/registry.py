"""Plugin registry: plugin type name -> class + strict parameter model; built-ins registered once.

The registry is an object owned by whoever builds routers (gateway app, fleet simulation); there
is no module-level singleton. Unknown types and parameters are `ConfigError`s naming the path.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from heteropool.scheduling.errors import ConfigError
from heteropool.scheduling.framework import Plugin, SeededPlugin
from heteropool.scheduling.plugins.filters.fill_headroom import FillHeadroomFilter
from heteropool.scheduling.plugins.filters.weight import WeightFilter
from heteropool.scheduling.plugins.pickers.max_score import MaxScorePicker
from heteropool.scheduling.plugins.pickers.round_robin import RoundRobinPicker
from heteropool.scheduling.plugins.producers.approx_prefix import ApproxPrefixCacheProducer
from heteropool.scheduling.plugins.producers.block_prefix import BlockPrefixProducer
from heteropool.scheduling.plugins.scorers.capacity_load import CapacityLoadScorer
from heteropool.scheduling.plugins.scorers.expected_ttft import ExpectedTtftScorer
from heteropool.scheduling.plugins.scorers.kv_cache_utilization import KvCacheUtilizationScorer
from heteropool.scheduling.plugins.scorers.least_request import LeastRequestScorer
from heteropool.scheduling.plugins.scorers.prefix_affinity import PrefixAffinityScorer
from heteropool.scheduling.plugins.scorers.prefix_cache import PrefixCacheScorer
from heteropool.scheduling.plugins.scorers.queue import QueueScorer
from heteropool.scheduling.plugins.scorers.spare_hardware import SpareHardwareScorer
from heteropool.validation import first_problem

__all__ = ["PluginKind", "Registry", "BUILTINS", "register_builtins"]

PluginKind = Literal["producer", "filter", "scorer", "picker"]


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: PluginKind
    cls: type[Plugin[Any]]


class Registry:
    """Maps plugin type names to their classes (each class names its parameter model)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, kind: PluginKind, cls: type[Plugin[Any]]) -> None:
        name = cls.type_name
        if name in self._entries:
            raise ValueError(f"plugin type {name!r} registered twice")
        self._entries[name] = _Entry(kind, cls)

    def types(self, kind: PluginKind | None = None) -> list[str]:
        return sorted(n for n, e in self._entries.items() if kind is None or e.kind == kind)

    def build(
        self, kind: PluginKind, type_name: str, parameters: Mapping[str, Any], path: str, rng: random.Random
    ) -> Any:
        """Instantiate a plugin (a `SeededPlugin` draws from `rng`); raises ConfigError naming `path`."""
        entry = self._entries.get(type_name)
        if entry is None:
            raise ConfigError(f"{path}.type", f"unknown plugin type {type_name!r}")
        if entry.kind != kind:
            raise ConfigError(f"{path}.type", f"{type_name!r} is a {entry.kind}, not a {kind}")
        try:
            params = entry.cls.params_model.model_validate(dict(parameters))
        except ValidationError as exc:
            raise ConfigError(*first_problem(exc, f"{path}.parameters")) from None
        cls = entry.cls
        return cls(params, rng) if issubclass(cls, SeededPlugin) else cls(params)


BUILTINS: dict[PluginKind, tuple[type[Plugin[Any]], ...]] = {  # the one place that lists them
    "producer": (ApproxPrefixCacheProducer, BlockPrefixProducer),
    "filter": (WeightFilter, FillHeadroomFilter),
    "scorer": (
        PrefixCacheScorer,
        PrefixAffinityScorer,
        QueueScorer,
        KvCacheUtilizationScorer,
        LeastRequestScorer,
        CapacityLoadScorer,
        ExpectedTtftScorer,
        SpareHardwareScorer,
    ),
    "picker": (MaxScorePicker, RoundRobinPicker),
}


def register_builtins(registry: Registry) -> Registry:
    """Register every built-in plugin (`BUILTINS`)."""
    for kind, classes in BUILTINS.items():
        for cls in classes:
            registry.register(kind, cls)
    return registry
