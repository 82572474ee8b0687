"""Converge one pool: validate, check references, apply children, summarise status.

`converge` is the single reconcile path. The kopf create/update/resume handler calls it when the
spec changes; the resync worker calls it when a child changes (level-based: a deleted or edited
child is repaired, readiness flows into status). A per-pool lock keeps the two from interleaving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import yaml

from heteropool.conditions import ChildProblem, deployment_state, summarise, upsert_condition
from heteropool.handlers.apply import ApplyResult, Owner, apply_children, children_selector
from heteropool.handlers.metrics import OperatorMetrics
from heteropool.kube import KINDS, KubeClient
from heteropool.render import expected_objects, expected_routing_config, routing_configmap_name
from heteropool.routing import ROUTING_CONFIG_KEY, RoutingConfig
from heteropool.semantics import Pool, SpecError, parse_pool
from heteropool.settings import DEFAULT_SETTINGS, RenderSettings

__all__ = [
    "OperatorContext",
    "Outcome",
    "converge",
    "check_references",
    "rfc3339",
]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class OperatorContext:
    """Long-lived state of one operator process (kept in kopf's memo)."""

    kube: KubeClient
    settings: RenderSettings = DEFAULT_SETTINGS
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    clock: Callable[[], datetime] = _utcnow
    locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    def lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self.locks.setdefault((namespace, name), asyncio.Lock())


@dataclass
class Outcome:
    """What a convergence did: the status to store, and what changed or went wrong."""

    status: dict[str, Any]
    applied: ApplyResult | None = None
    spec_error: SpecError | None = None
    pool: Pool | None = None


async def check_references(kube: KubeClient, pool: Pool) -> None:
    """Objects the spec names must exist before anything is rendered from it.

    Raises:
        SpecError: naming the field whose Secret or NetworkAttachmentDefinition is missing.
    """
    secrets: list[tuple[str, str]] = []
    if pool.spec.model.hf_token_secret_ref is not None:
        secrets.append(("spec.model.hfTokenSecretRef.name", pool.spec.model.hf_token_secret_ref.name))
    if pool.spec.gateway.api_key_secret_ref is not None:
        secrets.append(("spec.gateway.apiKeySecretRef.name", pool.spec.gateway.api_key_secret_ref.name))
    networks: list[tuple[str, str, str]] = []
    for i, group in enumerate(pool.spec.vendors):
        secrets += [(f"spec.vendors[{i}].imagePullSecrets[{j}]", s) for j, s in enumerate(group.image_pull_secrets)]
        if group.roce is not None and group.roce.enabled:
            networks += [
                (f"spec.vendors[{i}].roce.networks[{j}].name", n.namespace or pool.namespace, n.name)
                for j, n in enumerate(group.roce.networks)
            ]
    for path, name in secrets:
        if await kube.get(KINDS["Secret"], pool.namespace, name) is None:
            raise SpecError(path, f"Secret {pool.namespace}/{name} not found")
    for path, namespace, name in networks:
        if await kube.get(KINDS["NetworkAttachmentDefinition"], namespace, name) is None:
            raise SpecError(path, f"NetworkAttachmentDefinition {namespace}/{name} not found (is Multus installed?)")


async def _live_routing(kube: KubeClient, pool: Pool) -> RoutingConfig | None:
    live = await kube.get(KINDS["ConfigMap"], pool.namespace, routing_configmap_name(pool))
    try:
        return RoutingConfig.model_validate(yaml.safe_load((live or {}).get("data", {})[ROUTING_CONFIG_KEY]))
    except (KeyError, TypeError, ValueError):
        return None  # absent or hand-edited beyond repair: re-rendered from the spec


async def converge(ctx: OperatorContext, body: Mapping[str, Any]) -> Outcome:
    """Bring one pool's children and status in line with its spec.

    Raises:
        KubeApiError: reading or writing failed; nothing is rolled back (every step is idempotent).
    """
    meta, previous = body["metadata"], dict(body.get("status") or {})
    generation = int(meta.get("generation", 1))
    now = rfc3339(ctx.clock())
    try:
        pool = parse_pool(body.get("spec"), name=meta["name"], namespace=meta["namespace"], uid=meta.get("uid"))
        await check_references(ctx.kube, pool)
    except SpecError as exc:
        # Keep everything that is running; only say what is wrong.
        conditions = upsert_condition(
            previous.get("conditions") or [], "Degraded", "True", "InvalidSpec", str(exc), generation=generation, now=now
        )
        return Outcome(status={"observedGeneration": generation, "conditions": conditions}, spec_error=exc)

    owner = Owner(name=pool.name, namespace=pool.namespace, uid=meta["uid"])
    routing = expected_routing_config(pool, await _live_routing(ctx.kube, pool))
    applied = await apply_children(ctx.kube, owner, expected_objects(pool, routing, ctx.settings))
    deployments = await ctx.kube.list(KINDS["Deployment"], pool.namespace, label_selector=children_selector(pool.name))
    states = {d["metadata"]["name"]: deployment_state(d) for d in deployments}
    problem = ChildProblem("ChildConflict", "; ".join(applied.conflicts)) if applied.conflicts else None
    weights = {name: v.weight for name, v in routing.vendors.items()}  # as published to the gateway
    status = summarise(
        pool, generation=generation, deployments=states, previous=previous, now=now, problem=problem, weights=weights
    )
    return Outcome(status=status, applied=applied, pool=pool)
