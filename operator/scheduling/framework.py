"""The scheduling framework's contracts: per-request CycleContext and the plugin protocols.

A profile is producers -> filters -> weighted scorers -> one picker (the llm-d EPP shape).
Producers compute expensive per-request data once (prompt block hashes, prefix matches) and
write it into the CycleContext; filters and scorers only read it. Plugins hold configuration
and long-lived state (indexes, counters); per-request data never lives on a plugin.

A built-in plugin subclasses `Plugin[ItsParams]` (`Plugin[NoParams]` when it takes none), names
its `type_name`, implements its role's method and is listed once in `registry.BUILTINS`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from heteropool.routing import EndpointView, RouteRequest

__all__ = [
    "CycleContext",
    "PrefixMatch",
    "Producer",
    "Filter",
    "Scorer",
    "Picker",
    "PluginParams",
    "NoParams",
    "Plugin",
    "SeededPlugin",
]


@dataclass(slots=True)
class PrefixMatch:
    """Output of a prefix producer: block hashes of the prompt and per-endpoint credited prefix.

    `credited_chars[id]` is the prompt prefix (in characters) the endpoint is believed to hold,
    already rounded down to whole blocks of that endpoint's own block size.
    """

    block_chars: int
    hashes: list[int]
    prompt_chars: int
    matched_blocks: dict[str, int] = field(default_factory=dict)
    credited_chars: dict[str, int] = field(default_factory=dict)
    total_blocks: int = 0

    def cached_share(self, endpoint_id: str) -> float:
        """Share of the prompt (0..1) the endpoint is credited with holding."""
        if not self.prompt_chars:
            return 0.0
        return min(1.0, self.credited_chars.get(endpoint_id, 0) / self.prompt_chars)

    def cached_shares(self) -> dict[str, float]:
        """`cached_share` of every credited endpoint (the others hold nothing)."""
        total = self.prompt_chars
        if not total:
            return {}
        return {e: min(1.0, c / total) for e, c in self.credited_chars.items()}


@dataclass(slots=True)
class CycleContext:
    """Everything one scheduling cycle knows about its request; created per `pick` call."""

    request: RouteRequest
    prefix: PrefixMatch | None = None
    relative_capacity: dict[str, float] | None = None
    expected_ttft: dict[str, float] | None = None  # per endpoint id, computed once (expected_ttft_s)


class Producer(Protocol):
    """Writes per-request data into the context; learns from the routing outcome."""

    type_name: ClassVar[str]

    def produce(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> None: ...

    def on_routed(self, ctx: CycleContext, endpoint: EndpointView | None, endpoint_id: str) -> None: ...

    def forget(self, endpoint_ids: Sequence[str]) -> None: ...


class Filter(Protocol):
    """Drops endpoints that must not take the request."""

    type_name: ClassVar[str]

    def filter(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Sequence[EndpointView]: ...


class Scorer(Protocol):
    """Scores endpoints in [0, 1] (higher is better), keyed by endpoint id."""

    type_name: ClassVar[str]

    def score(self, ctx: CycleContext, endpoints: Sequence[EndpointView]) -> Mapping[str, float]: ...


class Picker(Protocol):
    """Chooses one endpoint from the candidates and their weighted total scores."""

    type_name: ClassVar[str]

    def pick(self, ctx: CycleContext, endpoints: Sequence[EndpointView], totals: Sequence[float]) -> EndpointView: ...


class PluginParams(BaseModel):
    """Base of every plugin's parameter model: an unknown parameter is an error, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(PluginParams):
    """The parameters of a plugin that takes none."""


P = TypeVar("P", bound=PluginParams)


class Plugin(Generic[P]):
    """Base of the built-in plugins: a type name, validated parameters (`self.params`), and the idea.

    The parameter model is the class's type argument (`class X(Plugin[XParams])`); the registry
    validates a profile's `parameters` against it. `consumes` names the context fields the plugin
    reads that only a producer writes (`"prefix"`), so a profile without one is refused.
    """

    type_name: ClassVar[str]
    params_model: ClassVar[type[PluginParams]] = NoParams
    consumes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: P) -> None:
        self.params = params

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Plugin):
                (model,) = get_args(base)
                if isinstance(model, type) and issubclass(model, PluginParams):
                    cls.params_model = model


class SeededPlugin(Plugin[P]):
    """A plugin that draws random numbers (a picker's tie-breaks): built with the profile's seeded
    RNG, so a run with the same seed decides the same."""

    def __init__(self, params: P, rng: random.Random) -> None:
        super().__init__(params)
        self.rng = rng
