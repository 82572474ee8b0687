"""Make a pool's children match the rendered objects with server-side apply; prune the rest.

Each child is applied whole as field manager `heteropool` (FIELD_MANAGER): the API server
merges it, owns for us exactly the fields we render, keeps fields other tools set (an extra
annotation, priorityClassName, a sidecar, an autoscaler's replicas) and removes fields we
stopped rendering. Applies are forced: a field of ours that someone changed is set back (the
pool's spec is the source of truth), which is the Kubernetes guidance for controllers. An
unchanged child makes the server answer without a write, so its resourceVersion stays put;
and a child whose resourceVersion has not moved since this process applied the same intent to it
is not sent at all (AppliedCache). Objects that carry a child's name but are not owned by the pool (no owner
reference with its uid) are reported as conflicts and never touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heteropool.api import GROUP, KIND, VERSION
from heteropool.handlers.kube import KINDS, KubeApiError, KubeClient, kind_of
from heteropool.names import MANAGED_BY, MANAGED_BY_LABEL, POOL_LABEL

__all__ = [
    "AppliedCache",
    "FIELD_MANAGER",
    "Owner",
    "ApplyResult",
    "apply_children",
    "apply_child",
    "owner_reference",
    "PRUNABLE_KINDS",
    "children_selector",
    "ref",
]

FIELD_MANAGER = "heteropool"

# Kinds render.py may produce, in prune order (workloads first). A kind whose CRD is not
# installed is skipped when pruning (and reported), so optional kinds can be listed here.
PRUNABLE_KINDS = (
    "HTTPRoute",  # Gateway mode; skipped where Gateway API is not installed
    "InferencePool",  # Gateway mode; skipped where the Inference Extension is not installed
    "ScaledObject",  # KEDA's; skipped where KEDA is not installed
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Deployment",
    "Service",
    "NetworkPolicy",
    "RoleBinding",
    "Role",
    "ServiceAccount",
    "ConfigMap",
)


@dataclass(frozen=True, slots=True)
class Owner:
    name: str
    namespace: str
    uid: str


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unserved: list[str] = field(default_factory=list)  # rendered objects whose kind this cluster lacks
    unserved_kinds: set[str] = field(default_factory=set)  # kinds not served here (not pruned, not applied)
    rejected: dict[str, KubeApiError] = field(default_factory=dict)  # refused for good (400, 403, 422)
    transient: list[KubeApiError] = field(default_factory=list)  # worth retrying soon
    applied: list[str] = field(default_factory=list)  # every object applied without error

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def owner_reference(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def children_selector(pool_name: str) -> str:
    return f"{POOL_LABEL}={pool_name},{MANAGED_BY_LABEL}={MANAGED_BY}"


def _owned_by(obj: Mapping[str, Any], owner: Owner) -> bool:
    return any(ref.get("uid") == owner.uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


def ref(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def _missing_kind(exc: KubeApiError) -> bool:
    """A 404 for the resource type itself (its CRD is not installed), not for one object."""
    return exc.status == 404 and "the server could not find the requested resource" in exc.message


async def apply_children(
    kube: KubeClient,
    owner: Owner,
    objects: Sequence[Mapping[str, Any]],
    *,
    keep: frozenset[tuple[str, str]] = frozenset(),
    retain: Callable[[Mapping[str, Any]], bool] = lambda _: False,
    cache: AppliedCache | None = None,
) -> ApplyResult:
    """Apply `objects` as the children of `owner`, then delete owned children neither applied, in
    `keep` (kind, name) nor `retain`ed.

    API errors do not stop the pass: each object's error lands in `rejected` or `transient`.
    """
    result = ApplyResult()
    # Two waves, each concurrent: what workloads refer to (config, RBAC, Services), then workloads.
    for wave in (
        [o for o in objects if o["kind"] != "Deployment"],
        [o for o in objects if o["kind"] == "Deployment"],
    ):
        await asyncio.gather(*(apply_child(kube, owner, desired, result, cache) for desired in wave))
    wanted = keep | {(o["kind"], o["metadata"]["name"]) for o in objects}
    await _prune(kube, owner, wanted, retain, result)
    return result


async def _prune(
    kube: KubeClient,
    owner: Owner,
    wanted: frozenset[tuple[str, str]],
    retain: Callable[[Mapping[str, Any]], bool],
    result: ApplyResult,
) -> None:
    for kind_name in PRUNABLE_KINDS:
        kind = KINDS[kind_name]
        try:
            live_children = await kube.list(kind, owner.namespace, label_selector=children_selector(owner.name))
        except KubeApiError as exc:
            if not _missing_kind(exc):
                raise
            result.unserved_kinds.add(kind_name)
            continue
        for live in live_children:
            meta = live["metadata"]
            if (kind_name, meta["name"]) in wanted or not _owned_by(live, owner) or retain(live):
                continue
            try:
                await kube.delete(kind, owner.namespace, meta["name"], uid=meta.get("uid"))
            except KubeApiError as exc:
                _record_error(result, ref(live), exc)
                continue
            result.deleted.append(ref(live))


def _with_owner(obj: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
    metadata = {**obj["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**obj, "metadata": metadata}


class AppliedCache:
    """What this process last applied to each child and the resourceVersion the server answered.

    When both are unchanged, nobody changed the child since (every stored change moves the
    resourceVersion) and applying it again would change nothing, so the request is skipped.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], tuple[str, str]] = {}

    @staticmethod
    def _key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    @staticmethod
    def digest(obj: Mapping[str, Any]) -> str:
        return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def unchanged(self, desired: Mapping[str, Any], digest: str, live: Mapping[str, Any] | None) -> bool:
        rv = (live or {}).get("metadata", {}).get("resourceVersion")
        return rv is not None and self._entries.get(self._key(desired)) == (digest, rv)

    def remember(self, desired: Mapping[str, Any], digest: str, stored: Mapping[str, Any]) -> None:
        self._entries[self._key(desired)] = (digest, str(stored["metadata"].get("resourceVersion")))


async def apply_child(
    kube: KubeClient,
    owner: Owner,
    desired: Mapping[str, Any],
    result: ApplyResult,
    cache: AppliedCache | None = None,
) -> None:
    """Apply one child unless a namesake not owned by the pool exists (then report it), or
    `cache` shows it unchanged since this process applied the same thing."""
    desired = _with_owner(desired, owner)
    meta = desired["metadata"]
    digest = AppliedCache.digest(desired)
    try:
        live = await kube.get(kind_of(desired), meta["namespace"], meta["name"])
        if live is not None and not _owned_by(live, owner):
            result.conflicts.append(f"{ref(desired)} exists and is not owned by this pool; it was left untouched")
            return
        if cache is not None and cache.unchanged(desired, digest, live):
            result.applied.append(ref(desired))
            return
        applied = await kube.apply(desired)
        if cache is not None:
            cache.remember(desired, digest, applied)
    except KubeApiError as exc:
        if _missing_kind(exc):
            result.unserved.append(
                f"{ref(desired)}: {desired['apiVersion']} {desired['kind']} is not served by this cluster "
                "(is its CRD installed?)"
            )
            result.unserved_kinds.add(desired["kind"])
        else:
            _record_error(result, ref(desired), exc)
        return
    result.applied.append(ref(desired))
    if live is None:
        result.created.append(ref(desired))
    elif applied["metadata"].get("resourceVersion") != live["metadata"].get("resourceVersion"):
        result.updated.append(ref(desired))


def _record_error(result: ApplyResult, what: str, exc: KubeApiError) -> None:
    if exc.retryable:
        result.transient.append(exc)
    else:
        result.rejected[what] = exc
