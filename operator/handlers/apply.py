"""Make a pool's children match the rendered objects: create, patch, prune; nothing else.

Reads before every write and writes only what differs (see diffing.py), so a re-reconcile with an
unchanged spec is GETs and LISTs only. Objects that carry the pool's name but are not owned by
it (no owner reference with the pool's uid) are reported as conflicts and never touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heteropool.api import GROUP, KIND, VERSION
from heteropool.diffing import merge_patch
from heteropool.kube import KINDS, KubeApiError, KubeClient, kind_of
from heteropool.render import MANAGED_BY

__all__ = ["Owner", "ApplyResult", "apply_children", "owner_reference", "PRUNABLE_KINDS", "children_selector"]

# Every kind render.py produces, in reverse apply order for pruning (autoscalers and workloads first).
PRUNABLE_KINDS = (
    "ScaledObject",
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
_OPTIONAL_KINDS = frozenset({"ScaledObject"})  # from an add-on (KEDA) that may not be installed


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
    return f"heteropool.dev/pool={pool_name},app.kubernetes.io/managed-by={MANAGED_BY}"


def _owned_by(obj: Mapping[str, Any], owner: Owner) -> bool:
    return any(ref.get("uid") == owner.uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


def _ref(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


async def apply_children(
    kube: KubeClient, owner: Owner, objects: Sequence[Mapping[str, Any]], *, prune: bool = True
) -> ApplyResult:
    """Converge the live children of `owner` to `objects`.

    Raises:
        KubeApiError: the first API error that is not a benign race (callers decide on retries).
    """
    result = ApplyResult()
    # Two waves, each concurrent: what workloads refer to (config, RBAC, Services), then workloads.
    for wave in (
        [o for o in objects if o["kind"] != "Deployment"],
        [o for o in objects if o["kind"] == "Deployment"],
    ):
        await asyncio.gather(*(_apply_one(kube, owner, _with_owner(desired, owner), result) for desired in wave))
    if prune:
        wanted = {(o["kind"], o["metadata"]["name"]) for o in objects}
        for kind_name in PRUNABLE_KINDS:
            kind = KINDS[kind_name]
            try:
                found = await kube.list(kind, owner.namespace, label_selector=children_selector(owner.name))
            except KubeApiError as exc:
                if exc.status == 404 and kind_name in _OPTIONAL_KINDS:
                    continue  # the API is not installed, so nothing of that kind can exist
                raise
            for live in found:
                meta = live["metadata"]
                if (kind_name, meta["name"]) in wanted or not _owned_by(live, owner):
                    continue
                await kube.delete(kind, owner.namespace, meta["name"], uid=meta.get("uid"))
                result.deleted.append(_ref(live))
    return result


def _with_owner(obj: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
    metadata = {**obj["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**obj, "metadata": metadata}


async def _apply_one(kube: KubeClient, owner: Owner, desired: dict[str, Any], result: ApplyResult) -> None:
    kind = kind_of(desired)
    name, namespace = desired["metadata"]["name"], desired["metadata"]["namespace"]
    live = await kube.get(kind, namespace, name)
    if live is None:
        try:
            await kube.create(desired)
            result.created.append(_ref(desired))
            return
        except KubeApiError as exc:
            if exc.status != 409:
                raise
            live = await kube.get(kind, namespace, name)  # created concurrently: compare below
            if live is None:
                raise
    if not _owned_by(live, owner):
        result.conflicts.append(f"{_ref(desired)} exists and is not owned by this pool; it was left untouched")
        return
    patch = merge_patch(live, desired, desired["kind"])
    if patch:
        await kube.patch(kind, namespace, name, patch)
        result.updated.append(_ref(desired))
