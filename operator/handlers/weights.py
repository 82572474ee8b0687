"""The weight loop of every pool, inside the operator: scrape ready replicas, publish weights.

One asyncio task per pool, owned by `WeightLoops` (an operator-level object, not a kopf timer), so
pools carry no finalizer for it and deleting a pool never waits for the operator. A task stops when
its pool is gone; a reconcile restarts it when `spec.weights` changes. Each interval it finds the
pool's ready replicas in the EndpointSlices of the vendor Services, lets `WeightLoop` scrape and
estimate, and, when the estimate changed beyond the threshold, publishes: the routing ConfigMap
the gateway watches, `status.vendors[]`, Prometheus gauges, and an Event when a weight moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from heteropool import routing_document
from heteropool.endpointslices import slice_endpoints, slice_service
from heteropool.handlers.apply import ApplyResult, Owner, apply_child
from heteropool.handlers.conditions import sort_conditions, upsert_condition
from heteropool.handlers.events import EventRecorder
from heteropool.handlers.kube import KINDS, KubeApiError, KubeClient
from heteropool.handlers.metrics import OperatorMetrics
from heteropool.names import SERVICE_NAME_LABEL, routing_configmap_name, vllm_service_name
from heteropool.render import expected_routing_configmap
from heteropool.semantics import Pool, SpecError, parse_pool
from heteropool.timestamps import rfc3339
from heteropool.vendors import vendor_profile
from heteropool.weights.controller import ScrapeTarget, WeightSettings, WeightUpdate, group_prior_tokens_per_s
from heteropool.weights.loop import WeightLoop, rounds

__all__ = ["WeightLoops", "ready_targets", "vendor_status"]

logger = logging.getLogger(__name__)

Key = tuple[str, str]


async def ready_targets(kube: KubeClient, pool: Pool) -> list[ScrapeTarget]:
    """One target per ready (not terminating) address in the EndpointSlices of each group's Service."""
    services = {vllm_service_name(pool.name, group.group_name): group for group in pool.spec.vendors}
    slices = await kube.list(  # one LIST for every group of the pool
        KINDS["EndpointSlice"], pool.namespace, label_selector=f"{SERVICE_NAME_LABEL} in ({','.join(services)})"
    )
    targets: list[ScrapeTarget] = []
    for endpoint_slice in slices:
        group = services.get(slice_service(endpoint_slice))
        if group is None:
            continue
        block_size = group.vllm.block_size or vendor_profile(group.vendor).default_block_size
        for url, ready in slice_endpoints(endpoint_slice):
            if ready:
                targets.append(
                    ScrapeTarget(
                        endpoint_id=url,
                        url=url,
                        group=group.group_name,
                        vendor=group.vendor,
                        prior_capacity_tokens_per_s=group_prior_tokens_per_s(group),
                        block_size=block_size,
                        max_num_seqs=group.vllm.max_num_seqs,
                    )
                )
    return targets


def vendor_status(pool: Pool, previous: list[Mapping[str, Any]], update: WeightUpdate) -> list[dict[str, Any]]:
    """`status.vendors[]` with the weight loop's fields; replica counts are kept from `previous`."""
    by_name = {v.get("name"): v for v in previous}
    out = []
    for group in pool.spec.vendors:
        entry = dict(by_name.get(group.group_name) or {"name": group.group_name, "vendor": group.vendor})
        estimate = update.groups.get(group.group_name)
        if estimate is None:
            entry.update({"weight": 0.0, "observedTokensPerS": 0.0})
        else:
            entry.update(
                {
                    "weight": round(estimate.share, 4),
                    "capacityTokensPerS": round(estimate.capacity_tokens_per_s, 1),
                    "observedTokensPerS": round(estimate.observed_tokens_per_s or 0.0, 1),
                    "lastScrapeTime": rfc3339(estimate.last_scrape_at),
                    "stale": estimate.stale,
                }
            )
        out.append({k: v for k, v in entry.items() if v is not None})
    return out


@dataclass
class _PoolLoop:
    task: asyncio.Task[None]
    settings: WeightSettings


class WeightLoops:
    """Every pool's weight loop in this operator process."""

    def __init__(
        self, kube: KubeClient, metrics: OperatorMetrics, events: EventRecorder, *, timeout_s: float = 5.0
    ) -> None:
        self._kube = kube
        self._metrics = metrics
        self._events = events
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), limits=httpx.Limits(max_connections=64, max_keepalive_connections=32)
        )
        self._loops: dict[Key, _PoolLoop] = {}

    def ensure(self, pool: Pool) -> None:
        """Run the pool's loop, restarting it when its settings changed."""
        key = (pool.namespace, pool.name)
        settings = WeightSettings.from_spec(pool.spec.weights)
        current = self._loops.get(key)
        if current is not None and current.settings == settings and not current.task.done():
            return
        self.stop(*key)
        task = asyncio.create_task(self._run(key, WeightLoop(settings)), name=f"weights-{key[0]}/{key[1]}")
        self._loops[key] = _PoolLoop(task=task, settings=settings)

    def stop(self, namespace: str, name: str) -> None:
        loop = self._loops.pop((namespace, name), None)
        if loop is not None:
            loop.task.cancel()
        self._metrics.forget_pool(namespace, name)

    async def close(self) -> None:
        tasks = [loop.task for loop in self._loops.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops.clear()
        await self._http.aclose()

    async def _run(self, key: Key, loop: WeightLoop) -> None:
        namespace, name = key
        async for _ in rounds(loop.settings.interval_s):  # the local loop's schedule: no drift
            try:
                body = await self._kube.get(KINDS["HeteroInferencePool"], namespace, name)
                if body is None or body["metadata"].get("deletionTimestamp"):
                    logger.info("pool %s/%s is gone: its weight loop stops", namespace, name)
                    self._loops.pop(key, None)
                    self._metrics.forget_pool(namespace, name)
                    return
                try:
                    pool = parse_pool(body.get("spec"), name=name, namespace=namespace, uid=body["metadata"].get("uid"))
                except SpecError:
                    pool = None  # the reconcile handler reports it; keep the last published weights
                targets = await ready_targets(self._kube, pool) if pool is not None else []
                if pool is not None and targets:  # nothing ready: the published weights stand
                    update = await loop.run_once(targets, self._http)
                    self._metrics.observe_weights(namespace, name, update)
                    if update.changed:
                        try:
                            await self._publish(pool, body, update)
                        except KubeApiError:
                            loop.mark_unpublished()
                            raise
            except KubeApiError as exc:
                logger.warning("weight loop of %s/%s: %s", namespace, name, exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one pool's loop die silently
                logger.exception("weight loop of %s/%s failed; retrying next interval", namespace, name)

    async def _publish(self, pool: Pool, body: Mapping[str, Any], update: WeightUpdate) -> None:
        now = rfc3339(update.at) or ""
        configmap = await self._kube.get(KINDS["ConfigMap"], pool.namespace, routing_configmap_name(pool.name))
        if configmap is not None:  # the reconcile creates it; until then there is nothing to steer
            document = routing_document.with_update(pool, routing_document.live_or_none(configmap), update, now)
            owner = Owner(name=pool.name, namespace=pool.namespace, uid=body["metadata"]["uid"])
            await apply_child(self._kube, owner, expected_routing_configmap(pool, document), ApplyResult())
        status = dict(body.get("status") or {})
        vendors = vendor_status(pool, status.get("vendors") or [], update)
        patch: dict[str, Any] = {
            "vendors": vendors,
            "weightSummary": ",".join(f"{v['name']}={v['weight']:.2f}" for v in vendors),
            "throughputTokensPerS": int(sum(v.get("observedTokensPerS", 0.0) for v in vendors)),
        }
        conditions = _staleness_conditions(status, update, int(body["metadata"].get("generation", 1)), now)
        if conditions is not None:
            patch["conditions"] = conditions
            self._metrics.observe_conditions(pool.namespace, pool.name, conditions)
        await self._kube.patch(
            KINDS["HeteroInferencePool"], pool.namespace, pool.name, {"status": patch}, subresource="status"
        )
        if update.moved:
            moves = ", ".join(f"{m.group} {m.old:.2f} -> {m.new:.2f}" for m in update.moved)
            await self._events.record(body, "Normal", "WeightChanged", f"weights: {moves}")


def _staleness_conditions(
    status: Mapping[str, Any], update: WeightUpdate, generation: int, now: str
) -> list[dict[str, Any]] | None:
    """MetricsStale=True while scrapes fail, False once they recover; None when nothing changes.

    Its own condition, not Degraded: a pool whose weights rest on old estimates still serves.
    """
    conditions = status.get("conditions") or []
    current = next((c for c in conditions if c.get("type") == "MetricsStale"), None)
    message = update.stale_message
    if message is not None:
        wanted = ("True", "ScrapesFailing", message)
    else:
        wanted = ("False", "ScrapesCurrent", "every ready replica was scraped within the last intervals")
    if current is not None and (current.get("status"), current.get("reason"), current.get("message")) == wanted:
        return None
    return sort_conditions(upsert_condition(conditions, "MetricsStale", *wanted, generation=generation, now=now))
