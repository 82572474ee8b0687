"""Keep serving while the model servers change: one GPU group's pod template at a time, and
groups that were renamed or removed only once the rest is available.

A model-server Deployment carries TEMPLATE_HASH, the hash of the pod template heteropool
rendered for it. When several groups' hashes change at once (a new operator version renders
differently, a pool-wide model change), the first such group in spec order is applied and the
others are held (not applied at all) until no other model server is rolling out; then the next.
A group that is not available anyway (already broken, or rolling) is applied at once, so a fix is
never held back. Model-server Deployments whose group left the spec (a rename, a removal) stay,
with everything carrying their group label, until every current group is available, or for
RETIRE_GRACE_S at most.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heteropool.names import COMPONENT_LABEL, GROUP_LABEL

__all__ = ["TEMPLATE_HASH", "RETIRE_GRACE_S", "RolloutPlan", "with_template_hash", "available", "plan_rollout"]

TEMPLATE_HASH = "heteropool.dev/template-hash"
RETIRE_GRACE_S = 600.0


def _is_model_server(obj: Mapping[str, Any]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return obj.get("kind", "Deployment") == "Deployment" and labels.get(COMPONENT_LABEL) == "model-server"


def _group(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata", {}).get("labels") or {}).get(GROUP_LABEL, obj["metadata"]["name"]))


def _hash(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata", {}).get("annotations") or {}).get(TEMPLATE_HASH)


def with_template_hash(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Deployment with the hash of its rendered pod template as an annotation; others as they are."""
    if obj["kind"] != "Deployment":
        return dict(obj)
    digest = hashlib.sha256(json.dumps(obj["spec"]["template"], sort_keys=True).encode()).hexdigest()[:16]
    annotations = {**(obj["metadata"].get("annotations") or {}), TEMPLATE_HASH: digest}
    return {**obj, "metadata": {**obj["metadata"], "annotations": annotations}}


def available(live: Mapping[str, Any]) -> bool:
    """The Deployment controller has rolled out the latest spec and every replica is available."""
    spec, status = live.get("spec") or {}, live.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    return (
        int(status.get("observedGeneration", 0)) >= int(live["metadata"].get("generation", 0))
        and int(status.get("updatedReplicas", 0)) >= replicas
        and int(status.get("availableReplicas", 0)) >= replicas
    )


@dataclass
class RolloutPlan:
    held: set[str] = field(default_factory=set)  # names of Deployments not applied in this pass
    rolling: list[str] = field(default_factory=list)  # groups whose template change is applied now
    waiting: list[str] = field(default_factory=list)  # groups whose template change waits its turn
    retiring: set[str] = field(default_factory=set)  # groups that left the spec and stay for now

    @property
    def notes(self) -> list[str]:
        notes = []
        if self.waiting:
            notes.append(
                "pod template changes roll one group at a time: "
                + (f"updating {', '.join(self.rolling)}; " if self.rolling else "")
                + f"next {', '.join(self.waiting)}"
            )
        if self.retiring:
            notes.append(f"keeping {', '.join(sorted(self.retiring))} until the current groups are available")
        return notes

    def retains(self, live: Mapping[str, Any]) -> bool:
        """Whether an owned child that is no longer rendered must stay for now."""
        return (live.get("metadata", {}).get("labels") or {}).get(GROUP_LABEL) in self.retiring


def plan_rollout(
    desired: Sequence[Mapping[str, Any]],
    live_deployments: Sequence[Mapping[str, Any]],
    retiring_since: dict[str, float],
    now_s: float,
) -> RolloutPlan:
    """Which model-server changes to apply now. Updates `retiring_since` (group -> first seen)."""
    plan = RolloutPlan()
    live = {d["metadata"]["name"]: d for d in live_deployments}
    servers = [o for o in desired if _is_model_server(o)]
    pending = [o for o in servers if o["metadata"]["name"] in live and _hash(live[o["metadata"]["name"]]) != _hash(o)]
    pending_names = {o["metadata"]["name"] for o in pending}
    busy = any(not available(d) for name, d in live.items() if _is_model_server(d) and name not in pending_names)
    # A group that is not serving anyway is applied at once (a fix is never held back) and counts
    # as the one rolling; otherwise the first serving group rolls if nothing else is rolling out.
    plan.rolling = [_group(o) for o in pending if not available(live[o["metadata"]["name"]])]
    may_start = not busy and not plan.rolling
    for obj in pending:
        if not available(live[obj["metadata"]["name"]]):
            continue
        if may_start:
            plan.rolling.append(_group(obj))
            may_start = False
        else:
            plan.held.add(obj["metadata"]["name"])
            plan.waiting.append(_group(obj))
    current = {_group(o) for o in servers}
    gone = {_group(d) for d in live.values() if _is_model_server(d) and _group(d) not in current}
    for group in list(retiring_since):
        if group not in gone:
            del retiring_since[group]
    settled = not pending and all(
        o["metadata"]["name"] in live and available(live[o["metadata"]["name"]]) for o in servers
    )
    for group in gone:
        since = retiring_since.setdefault(group, now_s)
        if not settled and now_s - since < RETIRE_GRACE_S:
            plan.retiring.add(group)
    return plan
