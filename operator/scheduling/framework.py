"""The scheduling framework's contracts: per-request CycleContext and the plugin protocols.

A profile is producers -> filters -> weighted scorers -> one picker (the llm-d EPP shape).
Producers compute expensive per-request data once (prompt block hashes, prefix matches) and
write it into the CycleContext; filters and scorers only read it. Plugins hold configuration
and long-lived state (indexes, counters); per-request data never lives on a plugin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from heteropool.routing import EndpointView, RouteRequest

__all__ = [
    "CycleContext",
    "PrefixMatch",
    "Producer",
    "Filter",
    "Scorer",
    "Picker",
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
