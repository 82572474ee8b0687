"""Contracts shared by everything that routes: the gateway, the fleet simulation, the weight loop.

Two things live here and nowhere else:
- the routing configuration format: the endpoint file (`heteropool epp --endpoints`,
  `heteropool weights --write`) and the routing ConfigMap the operator renders and rewrites;
- the `Router` protocol: the picker seam that the gateway's policies implement and the fleet
  simulation drives, so one picker implementation serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from heteropool.deprecations import FieldRename, upgrade_fields
from heteropool.validation import first_problem

__all__ = [
    "ROUTING_CONFIG_KEY",
    "EndpointEntry",
    "GroupRouting",
    "ENDPOINT_FIELD_RENAMES",
    "upgrade_entries",
    "upgrade_document",
    "RoutingConfig",
    "RoutingConfigError",
    "load_endpoint_entries",
    "dump_endpoint_entries",
    "EndpointView",
    "RouteRequest",
    "PRIORITY_CLASSES",
    "priority_class",
    "OBJECTIVE_HEADER",
    "ObjectivesRouting",
    "estimate_prompt_tokens",
    "expected_prefill_tokens",
    "Router",
    "NoEndpointError",
]

ROUTING_CONFIG_KEY = "routing.yaml"
"""Key of the routing ConfigMap's data that holds the `RoutingConfig` document."""


class RoutingConfigError(ValueError):
    """An endpoint file or routing document is malformed; the message names the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class EndpointEntry(_Model):
    """One vLLM replica as the picker sees it (one item of the endpoint file).

    The picker routes in proportion to `capacity` x `capacityMultiplier`.
    """

    url: str = Field(pattern=r"^https?://", description="Base URL of the replica, e.g. http://10.0.0.5:8000.")
    group: str = Field(min_length=1, description="Group the replica belongs to (a vendor group's name, e.g. nvidia).")
    capacity: float | None = Field(
        default=None, gt=0, description="Estimated output tokens/s the replica can serve (from the weight loop)."
    )
    block_size: int | None = Field(
        default=None, ge=1, alias="blockSize", description="vLLM --block-size of the replica."
    )
    capacity_multiplier: float | None = Field(
        default=None,
        ge=0,
        alias="capacityMultiplier",
        description="Multiplier on capacity (1 when traffic follows capacity; 0 takes the replica out of routing).",
    )
    prefill_tokens_per_s: float | None = Field(
        default=None,
        gt=0,
        alias="prefillTokensPerS",
        description="Uncached prompt tokens/s one request is prefilled at (measured, else the prior).",
    )


ENDPOINT_FIELD_RENAMES = (
    FieldRename("vendor", "group"),
    FieldRename("weight", "capacityMultiplier"),
    FieldRename("block_size", "blockSize"),
    FieldRename("prefill_tokens_per_s", "prefillTokensPerS"),
)
"""Endpoint entry fields renamed in 0.2 (endpoint files and routing documents are still read with them)."""


class GroupRouting(_Model):
    """One group's routing facts the operator publishes for the picker (keyed by group name).

    `share` is the group's share of the pool's traffic (the shares of all groups sum to 1);
    `capacity_tokens_per_s` is per replica, so the picker can split a group's share over its
    endpoints by capacity.
    """

    vendor: str | None = Field(default=None, description="Vendor of the group (nvidia, amd, intel-gaudi, sim).")
    share: float = Field(ge=0, description="Share of the pool's traffic this group should get (0..1).")
    capacity_tokens_per_s: float | None = Field(
        default=None, alias="capacityTokensPerS", gt=0, description="Estimated capacity of one replica."
    )
    block_size: int = Field(ge=1, alias="blockSize", description="vLLM --block-size of the group's replicas.")
    prefill_tokens_per_s: float | None = Field(
        default=None, alias="prefillTokensPerS", gt=0, description="Prefill speed prior of one replica (tokens/s)."
    )
    service: str | None = Field(default=None, description="Name of the group's headless Service.")


OBJECTIVE_HEADER = "x-gateway-inference-objective"
"""Request header naming the request's objective (the header Gateway API Inference Extension uses)."""


class ObjectivesRouting(_Model):
    """Priorities the picker gives requests, by the objective their `OBJECTIVE_HEADER` names.

    Higher is more important (InferenceObjective's convention). A request without the header, or
    naming an objective that is not listed, gets `defaultPriority`.
    """

    default_priority: int = Field(
        default=0, alias="defaultPriority", description="Priority of requests without a known objective."
    )
    priorities: dict[str, int] = Field(default_factory=dict, description="Objective name -> priority.")

    def priority_of(self, objective: str | None) -> int:
        if objective is None:
            return self.default_priority
        return self.priorities.get(objective, self.default_priority)


class RoutingConfig(_Model):
    """The document stored under `routing.yaml` in the pool's routing ConfigMap."""

    pool: str = Field(description="Name of the HeteroInferencePool.")
    model: str = Field(description="Served model name clients ask for.")
    policy: str = Field(description="Routing policy name.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Policy parameters.")
    generation: int = Field(default=0, ge=0, description="Increments on every published change.")
    updated_at: str | None = Field(default=None, alias="updatedAt", description="RFC 3339 time of the change.")
    groups: dict[str, GroupRouting] = Field(default_factory=dict, description="Group name -> its routing facts.")
    endpoints: list[EndpointEntry] = Field(
        default_factory=list, description="Per-endpoint entries the weight loop measured (win over the group's facts)."
    )
    objectives: ObjectivesRouting | None = Field(
        default=None, description="Request priorities by objective name (the pool spec's objectives)."
    )


_ENTRIES = TypeAdapter(list[EndpointEntry])
_DOCUMENT_FIELD_RENAMES = (FieldRename("vendors", "groups"),)
_GROUP_FIELD_RENAMES = (FieldRename("weight", "share"),)


def upgrade_entries(items: Any, where: str) -> Any:
    """Endpoint entries written with deprecated field names, read under the new ones (logged)."""
    if not isinstance(items, list):
        return items
    return [upgrade_fields(item, ENDPOINT_FIELD_RENAMES, f"{where}[{i}]") for i, item in enumerate(items)]


def upgrade_document(data: Any, where: str) -> Any:
    """A routing document written with deprecated field names, read under the new ones (logged)."""
    data = upgrade_fields(data, _DOCUMENT_FIELD_RENAMES, where)
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    if isinstance(out.get("groups"), Mapping):
        out["groups"] = {
            name: upgrade_fields(group, _GROUP_FIELD_RENAMES, f"{where}.groups.{name}")
            for name, group in out["groups"].items()
        }
    if "endpoints" in out:
        out["endpoints"] = upgrade_entries(out["endpoints"], f"{where}.endpoints")
    return out


def load_endpoint_entries(text: str, source: str = "endpoints") -> list[EndpointEntry]:
    """Parse an endpoint file (a YAML or JSON list, or a mapping with an `endpoints` list).

    Raises:
        RoutingConfigError: naming the source and the offending item and field.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{source}: not valid YAML or JSON: {exc}") from None
    if data is None:
        return []  # an empty file: no endpoints yet
    if isinstance(data, Mapping) and "endpoints" in data:
        data = data["endpoints"]
    if not isinstance(data, list):
        raise RoutingConfigError(f"{source}: expected a list of endpoints, got {type(data).__name__}")
    try:
        return _ENTRIES.validate_python(upgrade_entries(data, source))
    except ValidationError as exc:
        where, problem = first_problem(exc, source)
        raise RoutingConfigError(f"{where}: {problem}") from None


def dump_endpoint_entries(entries: Sequence[EndpointEntry]) -> str:
    """Serialise entries in the endpoint-file format (YAML, unset fields omitted)."""
    return yaml.safe_dump(
        [e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in entries], sort_keys=False
    )


# --- the picker seam -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointView:
    """What a router knows of one endpoint at decision time (a snapshot, never mutated)."""

    id: str
    group: str
    block_size: int = 16
    capacity_tokens_per_s: float | None = None
    capacity_multiplier: float | None = None  # routes by capacity x multiplier; 0 = not routed to
    # KV cache size of the replica in tokens (sizes the prefix index); None = policy default.
    kv_capacity_tokens: int | None = None
    # Uncached prompt tokens/s one request is prefilled at; None = unknown.
    prefill_tokens_per_s: float | None = None
    # Gateway-counted load: prompt tokens of requests still waiting for their first token, all of
    # them and the part the prefix index expected to be uncached (what the replica must prefill).
    in_flight: int = 0
    queued_prompt_tokens: int = 0
    queued_prefill_tokens: int = 0
    # Last scraped engine state (None until a scrape succeeded).
    num_running: int | None = None
    num_waiting: int | None = None
    kv_cache_usage: float | None = None


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """One inference request as a router sees it."""

    request_id: str
    prompt: str
    prompt_tokens: int
    max_tokens: int
    # Higher is more important (InferenceObjective's convention); 0 is the default.
    priority: int = 0


PRIORITY_CLASSES: tuple[str, ...] = ("high", "standard", "low")
"""How routers treat a priority: `high` (> 0) is latency-sensitive, `low` (< 0) fills spare capacity."""


def priority_class(priority: int) -> str:
    """The tier a priority routes in: high above 0, low below 0, standard at 0."""
    return "high" if priority > 0 else "low" if priority < 0 else "standard"


def estimate_prompt_tokens(prompt: str) -> int:
    """The gateway's prompt-token estimate (~4 characters per token): it routes before any tokenizer.

    The same estimate feeds the load accounting live and in the fleet simulation.
    """
    return len(prompt) // 4


def expected_prefill_tokens(prompt_tokens: int, cached_share: float | None) -> int:
    """The part of a prompt an endpoint must prefill, given the share its router expects cached."""
    return prompt_tokens if not cached_share else round(prompt_tokens * (1.0 - min(1.0, cached_share)))


class NoEndpointError(RuntimeError):
    """No endpoint can take the request (none healthy, or all saturated)."""

    def __init__(self, message: str, *, saturated: bool = False) -> None:
        super().__init__(message)
        self.saturated = saturated


class Router(Protocol):
    """A routing policy. One instance per pool; state (indexes, counters) lives on it.

    `pick` is called once per request with the current endpoint snapshots; the hooks let a
    stateful policy learn what happened. Simple policies implement the hooks as no-ops.
    """

    name: str

    def pick(self, request: RouteRequest, endpoints: Sequence[EndpointView]) -> str:
        """Return the id of the chosen endpoint; raise NoEndpointError if none fits."""
        ...

    def prefix_share(self, request: RouteRequest, endpoint_id: str) -> float | None:
        """Share of the prompt the policy expects cached on endpoint_id, between `pick` and
        `on_routed` (None: it keeps no prefix index); sizes the endpoint's queued prefill."""
        ...

    def on_routed(self, request: RouteRequest, endpoint_id: str) -> None:
        """The request was sent to endpoint_id (after any retry picked another one)."""
        ...

    def on_finished(self, request: RouteRequest, endpoint_id: str, *, ok: bool) -> None:
        """The request ended on endpoint_id (successfully or not)."""
        ...

    def on_endpoints_removed(self, endpoint_ids: Sequence[str]) -> None:
        """Forget state of endpoints that left the pool."""
        ...
