"""Switching a pool between standalone and Gateway mode without a gap in service.

Standalone mode serves through the pool's own Envoy (`<pool>-gateway`); Gateway mode through the
platform's Gateway, which routes by the pool's HTTPRoute to its InferencePool. When
`spec.gateway.parentRefs` is added or removed, the children of the old mode are no longer
rendered, and pruning them at once would leave clients with nothing to talk to while the new
path comes up. So the old data plane is kept (neither applied nor pruned) until the new one can
carry traffic:

- to Gateway mode: until a Gateway has accepted the HTTPRoute (a `parents[]` entry of its status
  with `Accepted=True` and no `ResolvedRefs=False`), which is the Gateway API's own signal that
  the route is programmed;
- to standalone mode: until an Envoy replica is ready.

Pure: the caller reads the HTTPRoute and the Envoy Deployment and applies the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heteropool.handlers.conditions import parent_accepted
from heteropool.render import envoy_configmap_name, gateway_name
from heteropool.semantics import Pool

__all__ = ["Handover", "plan_handover", "route_accepted"]

Child = tuple[str, str]  # (kind, name)

RECHECK_S = 5.0
"""While the pool waits on a Gateway, how often to look again (nothing watches HTTPRoute status)."""


@dataclass(frozen=True, slots=True)
class Handover:
    keep: frozenset[Child] = frozenset()
    note: str | None = None  # what the switch still waits for (shown in the Progressing condition)

    @property
    def pending(self) -> bool:
        return bool(self.keep)


def _envoy_children(pool: Pool) -> frozenset[Child]:
    name = gateway_name(pool)
    return frozenset(
        {
            ("Deployment", name),
            ("Service", name),
            ("PodDisruptionBudget", name),
            ("ConfigMap", envoy_configmap_name(pool)),
        }
    )


def _gateway_children(pool: Pool) -> frozenset[Child]:
    return frozenset({("InferencePool", pool.name), ("HTTPRoute", pool.name)})


def route_accepted(route: Mapping[str, Any] | None) -> bool:
    """Whether some Gateway accepted the route and resolved its backend (the InferencePool)."""
    return any(parent_accepted(p) for p in ((route or {}).get("status") or {}).get("parents") or [])


def plan_handover(
    pool: Pool, *, envoy_exists: bool, envoy_ready_replicas: int, route: Mapping[str, Any] | None
) -> Handover:
    """What of the other mode's data plane to keep this pass.

    `envoy_exists`/`envoy_ready_replicas` describe the live `<pool>-gateway` Deployment; `route` is
    the live HTTPRoute `<pool>` (None when absent or when Gateway API is not installed).
    """
    if pool.spec.gateway.gateway_mode:
        if not envoy_exists or route_accepted(route):
            return Handover()
        parents = ", ".join(p.name for p in pool.spec.gateway.parent_refs)
        return Handover(
            keep=_envoy_children(pool),
            note=f"keeping the pool's own Envoy until a Gateway ({parents}) accepts HTTPRoute {pool.name}",
        )
    if route is None or envoy_ready_replicas >= 1:
        return Handover()
    return Handover(
        keep=_gateway_children(pool),
        note=f"keeping InferencePool and HTTPRoute {pool.name} until an Envoy replica of {gateway_name(pool)} is ready",
    )
