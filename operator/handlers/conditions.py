"""Pool status from the state of its children: conditions Ready / Progressing / Degraded and counts.

Pure: the caller passes what it read (child Deployments, the previous status, the time), so the
same summary serves the reconcile handler and the child-watching resync, and is unit-testable.
Conventions: conditions are upserted by type, `lastTransitionTime` moves only when `status`
flips, every condition carries the `observedGeneration` it describes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heteropool.names import child_name, vllm_service_name
from heteropool.semantics import Pool

__all__ = [
    "CONDITION_TYPES",
    "DeploymentState",
    "deployment_state",
    "ChildProblem",
    "parent_accepted",
    "gateway_parents",
    "summarise",
    "upsert_condition",
    "invalid_spec_conditions",
    "sort_conditions",
    "status_changed",
]


@dataclass(frozen=True, slots=True)
class DeploymentState:
    """What the pool's status needs from one child Deployment."""

    name: str
    desired: int
    ready: int
    updated: int
    current: bool  # the controller has seen the latest spec and finished rolling it out
    stalled: bool  # Progressing=False, ProgressDeadlineExceeded
    existing: int = 0  # pods that exist now (status.replicas), ready or not


def deployment_state(obj: Mapping[str, Any]) -> DeploymentState:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing") or {}
    generation = obj.get("metadata", {}).get("generation", 0)
    return DeploymentState(
        name=obj["metadata"]["name"],
        desired=desired,
        ready=int(status.get("readyReplicas", 0)),
        updated=updated,
        existing=int(status.get("replicas", 0)),
        current=int(status.get("observedGeneration", 0)) >= int(generation) and updated >= desired,
        stalled=progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded",
    )


@dataclass(frozen=True, slots=True)
class ChildProblem:
    """A problem found while applying: `reason` is a CamelCase word, `message` names the field or object."""

    reason: str
    message: str


def upsert_condition(
    conditions: Sequence[Mapping[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    *,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """Conditions with `type_` set; its lastTransitionTime kept unless the status flips."""
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = previous["lastTransitionTime"] if previous and previous.get("status") == status else now
    updated = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
    return [dict(c) for c in conditions if c.get("type") != type_] + [updated]


CONDITION_TYPES = ("Ready", "Progressing", "Degraded", "MetricsStale")
"""Every condition a pool carries, in the order status lists them. Ready, Progressing and Degraded
are always present once the operator has seen the pool; MetricsStale once the weight loop ran."""


def sort_conditions(conditions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    order = {name: i for i, name in enumerate(CONDITION_TYPES)}
    return sorted((dict(c) for c in conditions), key=lambda c: order.get(c["type"], len(order)))


def invalid_spec_conditions(
    conditions: Sequence[Mapping[str, Any]], message: str, *, generation: int, now: str
) -> list[dict[str, Any]]:
    """An invalid spec: Ready=False and Degraded=True, both with reason InvalidSpec (what runs is kept)."""
    updated = upsert_condition(conditions, "Ready", "False", "InvalidSpec", message, generation=generation, now=now)
    if not any(c.get("type") == "Progressing" for c in updated):
        updated = upsert_condition(
            updated,
            "Progressing",
            "False",
            "InvalidSpec",
            "nothing rendered from an invalid spec",
            generation=generation,
            now=now,
        )
    updated = upsert_condition(updated, "Degraded", "True", "InvalidSpec", message, generation=generation, now=now)
    return sort_conditions(updated)


def parent_accepted(parent: Mapping[str, Any]) -> bool:
    """A Gateway API `status.parents[]` entry: the Gateway accepted the object and resolved its refs."""
    conditions = {c.get("type"): c.get("status") for c in parent.get("conditions") or []}
    return conditions.get("Accepted") == "True" and conditions.get("ResolvedRefs") != "False"


def _parent_entry(
    obj: Mapping[str, Any] | None, name: str, namespace: str, default_ns: str
) -> Mapping[str, Any] | None:
    for parent in ((obj or {}).get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if ref.get("name") == name and (ref.get("namespace") or default_ns) == namespace:
            return parent  # type: ignore[no-any-return]
    return None


def _refusal(parent: Mapping[str, Any] | None, what: str) -> str | None:
    if parent is None:
        return f"{what}: no status from this Gateway yet"
    for condition in parent.get("conditions") or []:
        if condition.get("type") in ("Accepted", "ResolvedRefs") and condition.get("status") == "False":
            return f"{what}: {condition.get('reason', condition['type'])}: {condition.get('message', '')}".rstrip(": ")
    return None if parent_accepted(parent) else f"{what}: not accepted yet"


def gateway_parents(
    pool: Pool, route: Mapping[str, Any] | None, inference_pool: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Gateway mode: per Gateway the pool names, whether it accepted the HTTPRoute and the InferencePool
    (read back from their `status.parents`, which the Gateway's controller writes)."""
    entries = []
    for ref in pool.spec.gateway.parent_refs:
        namespace = ref.namespace or pool.namespace
        on_route = _parent_entry(route, ref.name, namespace, pool.namespace)
        on_pool = _parent_entry(inference_pool, ref.name, namespace, pool.namespace)
        entry: dict[str, Any] = {
            "name": ref.name,
            "namespace": namespace,
            "routeAccepted": on_route is not None and parent_accepted(on_route),
            "inferencePoolAccepted": on_pool is not None and parent_accepted(on_pool),
        }
        problems = [p for p in (_refusal(on_route, "HTTPRoute"), _refusal(on_pool, "InferencePool")) if p]
        if problems:
            entry["message"] = "; ".join(problems)
        entries.append(entry)
    return entries


def summarise(
    pool: Pool,
    *,
    generation: int,
    deployments: Mapping[str, DeploymentState],
    previous: Mapping[str, Any],
    now: str,
    problem: ChildProblem | None = None,
    weights: Mapping[str, float] | None = None,
    notes: Sequence[str] = (),
    unserved_kinds: Sequence[str] = (),
    parents: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The pool's status (camelCase, as stored); `problem` is a spec or apply problem to report,
    `notes` say what an unfinished rollout still waits for (Progressing), `unserved_kinds` are
    kinds this cluster does not serve, so their objects were neither checked nor pruned, and
    `parents` (Gateway mode, from `gateway_parents`) whether a Gateway routes to the pool."""
    vendors, total_ready, total_desired = [], 0, 0
    lagging, stalled = [], []
    previous_vendors = {v.get("name"): v for v in previous.get("vendors") or []}
    for group in pool.spec.vendors:
        state = deployments.get(vllm_service_name(pool.name, group.group_name))
        # An autoscaled group wants what its autoscaler last set on the Deployment.
        desired = group.replicas if group.autoscaling is None else (state.desired if state else group.planned_replicas)
        ready = min(state.ready, desired) if state else 0
        total_ready += ready
        total_desired += desired
        if ready < desired or (state is not None and not state.current):
            lagging.append(f"{group.group_name} {ready}/{desired}")
        if state is not None and state.stalled:
            stalled.append(group.group_name)
        entry = dict(previous_vendors.get(group.group_name) or {})  # keep the weight loop's fields
        entry.update(
            {"name": group.group_name, "vendor": group.vendor, "desiredReplicas": desired, "readyReplicas": ready}
        )
        entry.pop("autoscaling", None)
        if group.autoscaling is not None:
            entry["autoscaling"] = {
                "minReplicas": group.autoscaling.min_replicas,
                "maxReplicas": group.autoscaling.max_replicas,
                "desiredReplicas": desired,
                "currentReplicas": state.existing if state else 0,
            }
        if weights is not None and group.group_name in weights:
            entry["weight"] = weights[group.group_name]
        vendors.append(entry)

    data_plane: dict[str, tuple[int, int]] = {}  # component -> (ready, desired)
    envoy_replicas = 0 if pool.spec.gateway.gateway_mode else pool.spec.gateway.replicas  # the platform's Gateway
    for component, desired in (("gateway", envoy_replicas), ("epp", pool.spec.gateway.picker.replicas)):
        state = deployments.get(child_name(pool.name, component))
        ready = min(state.ready, desired) if state else 0
        data_plane[component] = (ready, desired)
        if (state is None and desired) or (state is not None and not state.current) or ready < desired:
            lagging.append(f"{'picker' if component == 'epp' else component} {ready}/{desired}")
    gateway_ready, gateway_desired = data_plane["gateway"]
    picker_ready, picker_desired = data_plane["epp"]
    gateway_ok = gateway_ready >= min(1, gateway_desired) and picker_ready >= min(1, picker_desired)

    conditions: list[dict[str, Any]] = list(previous.get("conditions") or [])
    replicas_text = (
        f"{total_ready}/{total_desired} vLLM replicas, {gateway_ready}/{gateway_desired} Envoy and "
        f"{picker_ready}/{picker_desired} picker replicas ready"
    )
    routed = not pool.spec.gateway.gateway_mode or any(p["routeAccepted"] for p in parents)
    if total_desired == 0:
        ready_condition = ("False", "ScaledToZero", "no vendor group has replicas")
    elif not (total_ready == total_desired and gateway_ok):
        ready_condition = ("False", "ReplicasNotReady", replicas_text)
    elif not routed:
        refused = "; ".join(f"{p['name']}: {p.get('message', 'not accepted')}" for p in parents)
        ready_condition = (
            "False",
            "RouteNotAccepted",
            f"{replicas_text}, but no Gateway accepted HTTPRoute {pool.name} ({refused})",
        )
    else:
        ready_condition = ("True", "AllReplicasReady", replicas_text)
    conditions = upsert_condition(conditions, "Ready", *ready_condition, generation=generation, now=now)

    if lagging or notes:
        waiting = ["waiting for " + ", ".join(lagging)] if lagging else []
        progressing = ("True", "RollingOut", "; ".join([*waiting, *notes]))
    else:
        progressing = ("False", "Reconciled", "every child matches the spec")
    conditions = upsert_condition(conditions, "Progressing", *progressing, generation=generation, now=now)

    # Stale metrics are not a degradation of a serving pool: the weight loop reports them in their
    # own MetricsStale condition (see CONDITION_TYPES), which this summary keeps as it is.
    if problem is not None:
        degraded = ("True", problem.reason, problem.message)
    elif stalled:
        degraded = ("True", "RolloutStalled", "rollout exceeded its progress deadline: " + ", ".join(stalled))
    else:
        skipped = f"; not served by this cluster, so skipped: {', '.join(unserved_kinds)}" if unserved_kinds else ""
        degraded = ("False", "AsExpected", "no problem found" + skipped)
    conditions = upsert_condition(conditions, "Degraded", *degraded, generation=generation, now=now)
    conditions = sort_conditions(conditions)

    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": conditions,
        "vendors": vendors,
        "gateway": {
            "desiredReplicas": gateway_desired,
            "readyReplicas": gateway_ready,
            "pickerDesiredReplicas": picker_desired,
            "pickerReadyReplicas": picker_ready,
            **(
                {"parents": [dict(p) for p in parents]}
                if pool.spec.gateway.gateway_mode
                else {"service": child_name(pool.name, "gateway")}
            ),
        },
        "replicas": f"{total_ready}/{total_desired}",
        "vendorSummary": ",".join(g.group_name for g in pool.spec.vendors),
    }
    shown = {v["name"]: v.get("weight") for v in vendors if v.get("weight") is not None}
    if shown:
        status["weightSummary"] = ",".join(f"{name}={weight:.2f}" for name, weight in shown.items())
    return status


def status_changed(previous: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when writing `new` would change any field of the stored status."""
    return any(previous.get(key) != value for key, value in new.items())
