"""kopf wiring: which functions handle what, and the settings that keep GitOps clean.

Handlers are registered on a fresh `kopf.OperatorRegistry` (never kopf's global one), so tests
and the CLI each build their own operator. The process-wide state arrives in kopf's memo as
`memo.hp` (an OperatorContext) plus `memo.login` (the credential source).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf

from heteropool.api import GROUP, PLURAL, VERSION
from heteropool.handlers.conditions import status_changed
from heteropool.handlers.errors import retry_delay_s
from heteropool.handlers.kube import KINDS, CredentialSource, KubeApiError
from heteropool.handlers.pool import OperatorContext, Outcome, converge
from heteropool.handlers.references import describe
from heteropool.handlers.resync import ResyncQueue
from heteropool.handlers.weights import WeightLoops
from heteropool.names import MANAGED_BY, MANAGED_BY_LABEL, POOL_LABEL

__all__ = ["FINALIZER", "build_registry", "make_memo"]

FINALIZER = "heteropool.dev/finalizer"
# Every pool is converged at least this often, so what no event announces (a referenced Secret
# deleted) is noticed too; an unchanged pool costs reads and no-op applies, no stored writes.
RESYNC_EVERY_S = 120.0

logger = logging.getLogger(__name__)
_CHILD_LABELS: dict[str, Any] = {MANAGED_BY_LABEL: MANAGED_BY, POOL_LABEL: kopf.PRESENT}  # a value or kopf.PRESENT


def make_memo(context: OperatorContext, login: CredentialSource) -> kopf.Memo:
    """`login` is called by kopf whenever it (re-)authenticates, e.g. after a 401 on a watch."""
    return kopf.Memo(hp=context, login=login)


async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Own names for kopf's markers, bookkeeping in status (not annotations), and the resync task."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.diffbase")
    settings.posting.enabled = False  # Events come from heteropool (handlers/events.py), not kopf
    settings.networking.error_backoffs = [0.5, 1, 2, 5, 10]
    settings.watching.server_timeout = 300
    context: OperatorContext = memo.hp
    await _check_keda(context)

    async def resync(namespace: str, name: str) -> float | None:
        return await _resync_pool(context, namespace, name)

    memo.resync = ResyncQueue(resync)
    memo.resync_task = asyncio.create_task(memo.resync.run(), name="heteropool-resync")
    memo.weights = WeightLoops(context.kube, context.metrics, context.events)


async def _check_keda(context: OperatorContext) -> None:
    """ScaledObjects only where KEDA is installed; otherwise autoscaled groups get HPAs (and a warning)."""
    if not context.settings.keda_prometheus_url:
        return
    try:
        installed = await context.kube.serves("keda.sh/v1alpha1")
    except KubeApiError as exc:
        logger.warning("cannot tell whether KEDA is installed (%s); assuming it is", exc)
        return
    if not installed:
        logger.warning(
            "--keda-prometheus-url is set but KEDA (keda.sh/v1alpha1) is not installed: "
            "autoscaled vendor groups get HorizontalPodAutoscalers"
        )
        context.settings = dataclasses.replace(context.settings, keda_prometheus_url=None)


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    task = getattr(memo, "resync_task", None)
    if task is not None:
        task.cancel()
        memo.resync.close()
    weights: WeightLoops | None = getattr(memo, "weights", None)
    if weights is not None:
        await weights.close()
    await memo.hp.kube.aclose()


async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    """kopf's login: the same credential source as our client, read again on every call."""
    info: kopf.ConnectionInfo = await asyncio.to_thread(memo.login)
    return info


async def reconcile_pool(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, reason: str, retry: int, logger: kopf.Logger, **_: Any
) -> None:
    """Create/update/resume: converge the pool and put its status in kopf's own patch."""
    context: OperatorContext = memo.hp
    started = time.perf_counter()
    meta = body["metadata"]
    try:
        async with context.lock(meta["namespace"], meta["name"]):
            outcome = await converge(context, body)
    except KubeApiError as exc:
        context.metrics.api_errors.labels(str(exc.status)).inc()
        context.metrics.reconciles.labels(reason, "retry").inc()
        raise kopf.TemporaryError(f"Kubernetes API: {exc}", delay=retry_delay_s(exc, retry + 1)) from exc
    finally:
        context.metrics.reconcile_seconds.labels(reason).observe(time.perf_counter() - started)
    if status_changed(body.get("status") or {}, outcome.status):
        patch.status.update(outcome.status)
    if outcome.spec_error is not None:
        context.metrics.reconciles.labels(reason, "invalid").inc()
        await context.events.record(body, "Warning", "InvalidSpec", str(outcome.spec_error))
        raise kopf.PermanentError(f"invalid spec, running children left untouched: {outcome.spec_error}")
    context.metrics.reconciles.labels(reason, "ok").inc()
    await _report(body, outcome, context)
    memo.resync.request_later(meta["namespace"], meta["name"], outcome.recheck_after_s or RESYNC_EVERY_S)
    if outcome.pool is not None:
        memo.weights.ensure(outcome.pool)


def pool_deleted(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """Stop the pool's weight loop at once (children go by owner-reference garbage collection)."""
    memo.weights.stop(meta["namespace"], meta["name"])


async def _report(body: Mapping[str, Any], outcome: Outcome, context: OperatorContext) -> None:
    """Metrics, and one Event (and INFO line) per kind of change or problem of this pass."""
    applied = outcome.applied
    if applied is not None:
        for action, refs in (("created", applied.created), ("updated", applied.updated), ("deleted", applied.deleted)):
            if refs:
                context.metrics.child_writes.labels(action).inc(len(refs))
                await context.events.record(body, "Normal", action.capitalize(), f"{action} {', '.join(refs)}")
        if applied.conflicts:
            await context.events.record(body, "Warning", "ChildConflict", "; ".join(applied.conflicts))
    if outcome.missing:
        await context.events.record(body, "Warning", outcome.missing[0].reason, describe(outcome.missing))
    for rejection in outcome.rejected:
        await context.events.record(body, "Warning", rejection.reason, str(rejection))


async def _resync_pool(context: OperatorContext, namespace: str, name: str) -> float | None:
    """Converge a pool after a child changed, writing status directly (we are outside kopf's cycle).

    Returns: seconds after which to converge it again although nothing changed, or None.
    """
    kind = KINDS["HeteroInferencePool"]
    async with context.lock(namespace, name):
        body = await context.kube.get(kind, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        started = time.perf_counter()
        try:
            outcome = await converge(context, body)
        except KubeApiError as exc:
            context.metrics.api_errors.labels(str(exc.status)).inc()
            context.metrics.reconciles.labels("resync", "retry").inc()
            raise
        finally:
            context.metrics.reconcile_seconds.labels("resync").observe(time.perf_counter() - started)
        if outcome.spec_error is not None:
            return None  # the create/update handler reports it
        if status_changed(body.get("status") or {}, outcome.status):
            await context.kube.patch(kind, namespace, name, {"status": outcome.status}, subresource="status")
        context.metrics.reconciles.labels("resync", "ok").inc()
        await _report(body, outcome, context)
        return outcome.recheck_after_s or RESYNC_EVERY_S


def child_changed(labels: kopf.Labels, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Any event on a child: mark its pool as due for a resync (coalesced by the queue)."""
    queue: ResyncQueue | None = getattr(memo, "resync", None)
    if queue is not None and namespace:
        queue.request(namespace, labels[POOL_LABEL])


def build_registry() -> kopf.OperatorRegistry:
    """A registry with every heteropool handler, independent of kopf's global default."""
    registry = kopf.OperatorRegistry()
    kopf.on.startup(registry=registry)(configure)
    kopf.on.cleanup(registry=registry)(cleanup)
    kopf.on.login(registry=registry)(login)
    for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on(GROUP, VERSION, PLURAL, registry=registry, id="reconcile")(reconcile_pool)
    # optional: no finalizer, so deleting a pool never waits for the operator.
    kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, id="stop-weights", optional=True)(pool_deleted)
    for kind in ("Deployment", "Service", "ConfigMap"):
        resource = KINDS[kind]
        group, _, version = resource.api_version.rpartition("/")  # no group for the core group's "v1"
        child_id = f"child-{kind.lower()}"
        if group:
            on_event = kopf.on.event(
                group, version, resource.plural, labels=_CHILD_LABELS, registry=registry, id=child_id
            )
        else:
            on_event = kopf.on.event(version, resource.plural, labels=_CHILD_LABELS, registry=registry, id=child_id)
        on_event(child_changed)
    return registry
