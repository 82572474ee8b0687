"""API errors on child writes: transient ones retried with backoff, refusals reported and retried slowly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from heteropool.handlers.kube import KINDS

pytestmark = pytest.mark.slow

POOL = "granite"
AMD = f"{POOL}-vllm-amd"
Manifest = Callable[..., dict[str, Any]]


def _resyncs(context: Any) -> float:
    value = context.metrics.registry.get_sample_value(
        "heteropool_operator_reconciles_total", {"trigger": "resync", "result": "ok"}
    )
    return value or 0.0


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (
            422,
            "Invalid",
            'Deployment.apps "granite-vllm-amd" is invalid: spec.template.spec.priorityClassName: Not found',
        ),
        (403, "Forbidden", 'deployments.apps "granite-vllm-amd" is forbidden: denied by policy require-team-label'),
    ],
    ids=["invalid", "forbidden"],
)
async def test_a_refused_child_write_degrades_the_pool_naming_it_and_is_not_hammered(
    cluster: Any, pool_manifest: Manifest, status: int, reason: str, message: str
) -> None:
    emulator = cluster.require_emulator()
    fault = emulator.inject_faults(
        method="PATCH", path_contains=f"/deployments/{AMD}", status=status, times=None, message=message
    )
    context = await cluster.start_operator()
    manifest = pool_manifest()
    await cluster.create(manifest)

    async def degraded() -> Any:
        condition = await cluster.condition(POOL, "Degraded")
        return condition if condition and condition["reason"] == reason else None

    condition = await cluster.wait(degraded, what=f"Degraded={reason}")
    assert condition["status"] == "True"
    assert condition["message"].startswith(f"Deployment {cluster.namespace}/{AMD}: {message}")
    children = await cluster.children(POOL)  # everything else is there
    assert ("Deployment", AMD) not in children
    assert {("Service", AMD), ("Deployment", f"{POOL}-vllm-nvidia"), ("Deployment", f"{POOL}-gateway")} <= set(children)
    # Many child events (each a resync pass) do not make the operator repeat the refused write.
    hits = fault.hits
    for ready in range(1, 4):
        resyncs = _resyncs(context)
        status_patch = {"status": {"observedGeneration": 1, "readyReplicas": ready}}
        await cluster.kube.patch(
            KINDS["Deployment"], cluster.namespace, f"{POOL}-vllm-nvidia", status_patch, subresource="status"
        )

        async def resynced(before: float = resyncs) -> bool:
            return _resyncs(context) > before

        await cluster.wait(resynced, what="a resync pass")
    assert fault.hits == hits
    # Fixing it (here: the policy goes away) and changing the pool retries at once.
    emulator.clear_faults()
    manifest["spec"]["vendors"][1]["replicas"] = 7
    await cluster.patch_pool(POOL, {"spec": {"vendors": manifest["spec"]["vendors"]}})

    async def recovered() -> bool:
        condition = await cluster.condition(POOL, "Degraded")
        amd = await cluster.get("Deployment", AMD)
        return bool(condition and condition["status"] == "False" and amd and amd["spec"]["replicas"] == 7)

    await cluster.wait(recovered, what="amd applied and Degraded=False")
