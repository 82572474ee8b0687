"""Converge one pool: validate, check references, apply children, summarise status.

`converge` is the single reconcile path. The kopf create/update/resume handler calls it when the
spec changes; the resync worker calls it when a child changes (level-based: a deleted or edited
child is repaired, readiness flows into status). A per-pool lock keeps the two from interleaving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from heteropool import routing_document
from heteropool.handlers.apply import AppliedCache, ApplyResult, Owner, apply_children, children_selector, ref
from heteropool.handlers.conditions import (
    ChildProblem,
    deployment_state,
    gateway_parents,
    invalid_spec_conditions,
    summarise,
)
from heteropool.handlers.errors import Rejection, Rejections
from heteropool.handlers.events import EventRecorder
from heteropool.handlers.handover import RECHECK_S as GATEWAY_RECHECK_S
from heteropool.handlers.handover import plan_handover
from heteropool.handlers.kube import KINDS, KubeClient
from heteropool.handlers.metrics import OperatorMetrics
from heteropool.handlers.references import RECHECK_S, Reference, describe, missing_references, needs_any
from heteropool.handlers.rollout import plan_rollout, with_template_hash
from heteropool.names import routing_configmap_name
from heteropool.render import expected_objects, gateway_name
from heteropool.routing import RoutingConfig
from heteropool.semantics import Pool, SpecError, parse_pool
from heteropool.settings import DEFAULT_SETTINGS, RenderSettings
from heteropool.timestamps import rfc3339

__all__ = [
    "OperatorContext",
    "Outcome",
    "converge",
]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class OperatorContext:
    """Long-lived state of one operator process (kept in kopf's memo)."""

    kube: KubeClient
    settings: RenderSettings = DEFAULT_SETTINGS
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    clock: Callable[[], datetime] = _utcnow
    monotonic: Callable[[], float] = time.monotonic
    locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    rejections: dict[tuple[str, str], Rejections] = field(default_factory=dict)
    retiring: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)  # pool -> group -> since
    events: EventRecorder = field(init=False)
    applied: AppliedCache = field(default_factory=AppliedCache)

    def __post_init__(self) -> None:
        self.events = EventRecorder(self.kube)

    def lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self.locks.setdefault((namespace, name), asyncio.Lock())


@dataclass
class Outcome:
    """What a convergence did: the status to store, and what changed or went wrong."""

    status: dict[str, Any]
    applied: ApplyResult | None = None
    spec_error: SpecError | None = None
    pool: Pool | None = None
    missing: list[Reference] = field(default_factory=list)  # referenced objects not found
    rejected: list[Rejection] = field(default_factory=list)  # child writes the API server refused
    recheck_after_s: float | None = None  # converge again then, even if nothing changes


async def _live_routing(kube: KubeClient, pool: Pool) -> RoutingConfig | None:
    live = await kube.get(KINDS["ConfigMap"], pool.namespace, routing_configmap_name(pool.name))
    return routing_document.live_or_none(live)  # absent or edited beyond repair: re-rendered from the spec


async def converge(ctx: OperatorContext, body: Mapping[str, Any]) -> Outcome:
    """Bring one pool's children and status in line with its spec.

    Raises:
        KubeApiError: a transient failure (see errors.py) after everything else was applied;
            nothing is rolled back (every step is idempotent).
    """
    meta, previous = body["metadata"], dict(body.get("status") or {})
    generation = int(meta.get("generation", 1))
    now = rfc3339(ctx.clock())
    try:
        pool = parse_pool(body.get("spec"), name=meta["name"], namespace=meta["namespace"], uid=meta.get("uid"))
    except SpecError as exc:
        # Keep everything that is running; only say what is wrong.
        conditions = invalid_spec_conditions(previous.get("conditions") or [], str(exc), generation=generation, now=now)
        ctx.metrics.observe_conditions(meta["namespace"], meta["name"], conditions)
        return Outcome(status={"observedGeneration": generation, "conditions": conditions}, spec_error=exc)

    owner = Owner(name=pool.name, namespace=pool.namespace, uid=meta["uid"])
    missing = await missing_references(ctx.kube, pool)
    routing = routing_document.reconciled(pool, await _live_routing(ctx.kube, pool))
    # Autoscaled groups come without replicas; Deployments carry their pod template's hash.
    objects = [with_template_hash(o) for o in expected_objects(pool, routing, ctx.settings)]
    key = (pool.namespace, pool.name)
    book = ctx.rejections.setdefault(key, Rejections())
    now_s = ctx.monotonic()
    waiting = book.waiting(now_s, generation)  # refused before and not due again yet
    selector = children_selector(pool.name)
    live_deployments = await ctx.kube.list(KINDS["Deployment"], pool.namespace, label_selector=selector)
    plan = plan_rollout(objects, live_deployments, ctx.retiring.setdefault(key, {}), now_s)
    envoy = next((d for d in live_deployments if d["metadata"]["name"] == gateway_name(pool)), None)
    route = await ctx.kube.get(KINDS["HTTPRoute"], pool.namespace, pool.name)  # None: absent or not served
    handover = plan_handover(
        pool,
        envoy_exists=envoy is not None,
        envoy_ready_replicas=deployment_state(envoy).ready if envoy is not None else 0,
        route=route,
    )
    parents = (
        gateway_parents(pool, route, await ctx.kube.get(KINDS["InferencePool"], pool.namespace, pool.name))
        if pool.spec.gateway.gateway_mode
        else []
    )
    held = [  # left as they are in this pass
        o
        for o in objects
        if needs_any(o, missing)
        or ref(o) in waiting
        or (o["kind"] == "Deployment" and o["metadata"]["name"] in plan.held)
    ]
    applied = await apply_children(
        ctx.kube,
        owner,
        [o for o in objects if o not in held],
        keep=frozenset((o["kind"], o["metadata"]["name"]) for o in held) | handover.keep,
        retain=plan.retains,
        cache=ctx.applied,
    )
    for what, error in applied.rejected.items():
        book.record(what, error, now_s, generation)
    book.clear(applied.applied + applied.deleted)
    if applied.transient:
        raise applied.transient[0]
    rejected = list(book.by_ref.values())
    deployments = await ctx.kube.list(KINDS["Deployment"], pool.namespace, label_selector=selector)
    states = {d["metadata"]["name"]: deployment_state(d) for d in deployments}
    problem = None
    if missing:
        problem = ChildProblem(missing[0].reason, describe(missing))
    elif rejected:
        problem = ChildProblem(
            rejected[0].reason,
            "; ".join(map(str, rejected)) + "; retried with backoff until the spec or the cluster changes",
        )
    elif applied.unserved:
        problem = ChildProblem("KindNotInstalled", "; ".join(applied.unserved))
    elif applied.conflicts:
        problem = ChildProblem("ChildConflict", "; ".join(applied.conflicts))
    weights = {name: v.share for name, v in routing.groups.items()}  # as published to the picker
    status = summarise(
        pool,
        generation=generation,
        deployments=states,
        previous=previous,
        now=now,
        problem=problem,
        weights=weights,
        notes=[*plan.notes, *([handover.note] if handover.note else [])],
        unserved_kinds=sorted(applied.unserved_kinds),
        parents=parents,
    )
    ctx.metrics.observe_status(pool.namespace, pool.name, status)
    rechecks = [RECHECK_S] if missing else []
    if handover.pending or (parents and not any(p["routeAccepted"] for p in parents)):
        rechecks.append(GATEWAY_RECHECK_S)  # nothing watches HTTPRoute status: look again
    retry_in = book.next_retry_in(now_s)
    if retry_in is not None:
        rechecks.append(max(retry_in, 0.1))
    return Outcome(
        status=status,
        applied=applied,
        pool=pool,
        missing=missing,
        rejected=rejected,
        recheck_after_s=min(rechecks, default=None),
    )
