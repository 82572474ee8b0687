"""The routing document's one owner: what the pool's routing ConfigMap holds under `routing.yaml`.

The operator renders it from the spec, its weight loop rewrites it with what it measured, and the
Endpoint Picker reads it back; all of them go through these functions (pure: no I/O):

- `initial(pool)`: the document for a spec; group shares from static weights or capacity priors,
  the objectives' priorities, generation 0 (`initial_shares(pool)` alone gives the shares);
- `reconciled(pool, live)`: the spec's document keeping what the weight loop learned in `live`;
- `with_update(pool, live, update, now)`: the document after a weight update (generation + 1);
- `from_configmap(obj)`: parse a ConfigMap (raises `RoutingConfigError` naming the field; deprecated
  field names are read, and logged);
  `live_or_none(obj)` is the lenient form for the operator, which re-renders what it cannot read;
- `to_data(document)`: the ConfigMap's `data`;
- `endpoint_entries(ready, document)`: the per-endpoint entries the picker routes by, for the ready
  endpoints of each group: a group's share becomes per-endpoint capacity multipliers, unless the
  weight loop published the endpoint's own entry;
- `entries_from_update(update)`: a weight update as per-endpoint entries (the document's
  `endpoints` and the local endpoint file);
- `capacity_multiplier(share, capacity, total_capacity)`: the arithmetic both directions share.

The schema itself (`RoutingConfig`, `GroupRouting`, `EndpointEntry`) lives in `heteropool.routing`
beside the endpoint file's, so the data plane reads it without the operator's modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from heteropool.names import vllm_service_name
from heteropool.routing import (
    ROUTING_CONFIG_KEY,
    EndpointEntry,
    GroupRouting,
    ObjectivesRouting,
    RoutingConfig,
    RoutingConfigError,
    upgrade_document,
)
from heteropool.validation import first_problem
from heteropool.vendors import group_prior_prefill_tokens_per_s, group_prior_tokens_per_s, vendor_profile

if TYPE_CHECKING:
    from heteropool.semantics import Pool
    from heteropool.weights.controller import WeightUpdate

__all__ = [
    "initial_shares",
    "initial",
    "reconciled",
    "with_update",
    "from_configmap",
    "live_or_none",
    "to_data",
    "endpoint_entries",
    "entries_from_update",
    "capacity_multiplier",
]


def initial_shares(pool: Pool) -> dict[str, float]:
    """Each group's share of traffic before any metrics exist: static weights, else capacity priors.

    Shares sum to 1 over groups with replicas; a group scaled to zero gets 0.
    """
    spec = pool.spec
    raw: dict[str, float] = {}
    for group in spec.vendors:
        if group.planned_replicas == 0:
            raw[group.group_name] = 0.0
        elif spec.weights.mode == "static" and spec.weights.static:
            raw[group.group_name] = spec.weights.static.get(group.group_name, 0.0)
        else:
            raw[group.group_name] = group.planned_replicas * group_prior_tokens_per_s(group)
    total = sum(raw.values())
    return {name: (round(value / total, 4) if total > 0 else 0.0) for name, value in raw.items()}


def initial(pool: Pool) -> RoutingConfig:
    """The document for the spec alone (generation 0): priors, block sizes, each group's Service."""
    shares = initial_shares(pool)
    groups = {
        group.group_name: GroupRouting(
            share=shares[group.group_name],
            capacity_tokens_per_s=group_prior_tokens_per_s(group),
            prefill_tokens_per_s=group_prior_prefill_tokens_per_s(group),
            block_size=group.vllm.block_size or vendor_profile(group.vendor).default_block_size,
            service=vllm_service_name(pool.name, group.group_name),
            vendor=group.vendor,
        )
        for group in pool.spec.vendors
    }
    routing = pool.spec.gateway.routing
    objectives = (
        ObjectivesRouting(
            default_priority=routing.default_priority, priorities={o.name: o.priority for o in routing.objectives}
        )
        if routing.objectives or routing.default_priority
        else None
    )
    return RoutingConfig(
        pool=pool.name,
        model=pool.spec.model.effective_served_name,
        policy=routing.policy,
        parameters=dict(routing.parameters),
        generation=0,
        groups=groups,
        objectives=objectives,
    )


def reconciled(pool: Pool, live: RoutingConfig | None = None) -> RoutingConfig:
    """The document for the spec; what the weight loop learned in `live` is kept.

    Without `live` (first publication) shares come from priors or the static weights. In auto
    mode, a live document the weight loop has written (generation > 0) keeps its shares,
    capacities and endpoint entries for groups that still exist, so re-applying the spec never
    resets them to priors; shares are renormalised over the groups that remain.
    """
    config = initial(pool)
    if live is None or live.generation == 0 or pool.spec.weights.mode != "auto":
        return config
    learned = {
        name: config.groups[name].model_copy(
            update={"share": live.groups[name].share, "capacity_tokens_per_s": live.groups[name].capacity_tokens_per_s}
        )
        for name in config.groups
        if name in live.groups
    }
    if not learned:
        return config
    groups = {name: learned.get(name, routing) for name, routing in config.groups.items()}
    total = sum(v.share for v in groups.values())
    if total > 0:
        groups = {name: v.model_copy(update={"share": round(v.share / total, 4)}) for name, v in groups.items()}
    return config.model_copy(
        update={
            "groups": groups,
            "generation": live.generation,
            "updated_at": live.updated_at,
            "endpoints": [e for e in live.endpoints if e.group in groups],
        }
    )


def with_update(pool: Pool, live: RoutingConfig | None, update: WeightUpdate, now: str) -> RoutingConfig:
    """The document with this update's shares, capacities and endpoint entries (generation + 1).

    A group the update has no ready replica for gets share 0.
    """
    base = reconciled(pool, live)
    groups = {
        name: (
            routing.model_copy(
                update={
                    "share": round(update.groups[name].share, 4),
                    "capacity_tokens_per_s": round(update.groups[name].capacity_tokens_per_s, 1) or None,
                }
            )
            if name in update.groups
            else routing.model_copy(update={"share": 0.0})
        )
        for name, routing in base.groups.items()
    }
    return base.model_copy(
        update={
            "groups": groups,
            "endpoints": entries_from_update(update),
            "generation": (live.generation if live else 0) + 1,
            "updated_at": now,
        }
    )


def from_configmap(obj: Mapping[str, Any]) -> RoutingConfig:
    """The document stored under `routing.yaml` of a ConfigMap.

    Raises:
        RoutingConfigError: naming the ConfigMap, the key and the field.
    """
    name = (obj.get("metadata") or {}).get("name", "?")
    where = f"configmap {name} data.{ROUTING_CONFIG_KEY}"
    text = (obj.get("data") or {}).get(ROUTING_CONFIG_KEY)
    if text is None:
        raise RoutingConfigError(f"{where}: missing")
    try:
        return RoutingConfig.model_validate(upgrade_document(yaml.safe_load(text), where))
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{where}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        field, problem = first_problem(exc, where)
        raise RoutingConfigError(f"{field}: {problem}") from None


def live_or_none(obj: Mapping[str, Any] | None) -> RoutingConfig | None:
    """The document of a live ConfigMap; None when it is absent or edited beyond repair."""
    if obj is None:
        return None
    try:
        return from_configmap(obj)
    except RoutingConfigError:
        return None


def to_data(document: RoutingConfig) -> dict[str, str]:
    """The ConfigMap's `data`: the document as YAML under `routing.yaml` (camelCase, unset fields left out)."""
    fields = document.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {ROUTING_CONFIG_KEY: yaml.safe_dump(fields, sort_keys=False)}


def capacity_multiplier(share: float, capacity: float, total_capacity: float) -> float:
    """The multiplier the picker applies to an endpoint's capacity so the endpoint gets `share` of traffic.

    The picker routes in proportion to capacity x multiplier, so the multiplier is the endpoint's
    share of traffic over its share of the pool's capacity (1.0 when traffic follows capacity).
    """
    return share * total_capacity / capacity


def endpoint_entries(ready: Mapping[str, str], document: RoutingConfig | None) -> list[EndpointEntry]:
    """Entries for the ready endpoints (`url -> group`), with the document's group facts.

    An endpoint's own entry (published by the weight loop) wins field by field; otherwise the group's
    capacity, block size and prefill speed apply, and its share is split over its ready endpoints
    in proportion to capacity (`capacity_multiplier`), so a group's endpoints together get its share.
    """
    groups = document.groups if document else {}
    overrides = {e.url.rstrip("/"): e for e in (document.endpoints if document else ())}
    members: dict[str, int] = {}
    for group in ready.values():
        members[group] = members.get(group, 0) + 1
    known = [v.capacity_tokens_per_s for v in groups.values() if v.capacity_tokens_per_s]
    default_capacity = sum(known) / len(known) if known else 1.0

    def capacity(url: str, group: str) -> float | None:
        own = overrides.get(url)
        facts = groups.get(group)
        return (own.capacity if own and own.capacity else None) or (facts.capacity_tokens_per_s if facts else None)

    total_capacity = sum(capacity(u, g) or default_capacity for u, g in ready.items())
    out: list[EndpointEntry] = []
    for url, group in ready.items():
        own = overrides.get(url)
        facts = groups.get(group)
        cap = capacity(url, group)
        multiplier: float | None = None
        if own is not None and own.capacity_multiplier is not None:
            multiplier = own.capacity_multiplier
        elif facts is not None and total_capacity > 0:
            multiplier = capacity_multiplier(facts.share / members[group], cap or default_capacity, total_capacity)
        out.append(
            EndpointEntry(
                url=url,
                group=group,
                capacity=cap,
                block_size=(own.block_size if own and own.block_size else None)
                or (facts.block_size if facts else None),
                capacity_multiplier=multiplier,
                prefill_tokens_per_s=(own.prefill_tokens_per_s if own else None)
                or (facts.prefill_tokens_per_s if facts else None),
            )
        )
    return out


def entries_from_update(update: WeightUpdate, *, digits: int = 4) -> list[EndpointEntry]:
    """The update as per-endpoint entries (`capacity` x `capacityMultiplier` = the endpoint's routing share).

    Capacity is in output tokens/s as measured (rounded to 0.1), the multiplier the controller's, the
    prefill speed the smoothed per-sequence measurement (left out until a replica prefilled).
    """
    return [
        EndpointEntry(
            url=e.url,
            group=e.group,
            capacity=max(0.1, round(e.capacity_tokens_per_s, 1)),
            block_size=e.block_size,
            capacity_multiplier=round(e.capacity_multiplier, digits),
            prefill_tokens_per_s=None
            if not e.prefill_tokens_per_s_per_seq
            else round(e.prefill_tokens_per_s_per_seq, 1),
        )
        for e in update.endpoints.values()
    ]
