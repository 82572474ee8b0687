"""Server-side apply: heteropool owns the fields it renders and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from heteropool.handlers.kube import KINDS

pytestmark = pytest.mark.slow

POOL = "granite"
Manifest = Callable[..., dict[str, Any]]


async def _children_present(cluster: Any, autoscalers: int = 0) -> bool:
    # routing ConfigMap, picker SA/Role/RoleBinding/Service/Deployment, Envoy ConfigMap/Service/Deployment,
    # vLLM SA and NetworkPolicy, and a Service, Deployment and PodDisruptionBudget per vendor group (3)
    return len(await cluster.children(POOL)) == 22 + autoscalers


async def _replicas(cluster: Any, name: str) -> int:
    return int((await cluster.get("Deployment", name))["spec"].get("replicas", -1))


async def test_fields_other_tools_set_on_children_survive_reconciles(cluster: Any, pool_manifest: Manifest) -> None:
    await cluster.start_operator()
    manifest = pool_manifest()
    await cluster.create(manifest)
    await cluster.wait(lambda: _children_present(cluster), what="all children")
    name = f"{POOL}-vllm-nvidia"
    deployment = await cluster.get("Deployment", name)
    vllm = deployment["spec"]["template"]["spec"]["containers"][0]
    # What a platform team (or an admission policy) adds: a priority class, an annotation, a sidecar, an env var.
    patch = {
        "metadata": {"annotations": {"team.example/owner": "platform"}},
        "spec": {
            "template": {
                "spec": {
                    "priorityClassName": "inference-high",
                    "containers": [
                        {**vllm, "env": [*vllm.get("env", []), {"name": "EXTRA", "value": "1"}]},
                        {"name": "log-shipper", "image": "fluent-bit:3"},
                    ],
                }
            }
        },
    }
    await cluster.kube.patch(KINDS["Deployment"], cluster.namespace, name, patch)
    # A spec change (a new reconcile) and a child event (a resync) both converge the pool again.
    manifest["spec"]["vendors"][0]["replicas"] = 5
    await cluster.patch_pool(POOL, {"spec": {"vendors": manifest["spec"]["vendors"]}})

    async def scaled() -> bool:
        return await _replicas(cluster, name) == 5

    await cluster.wait(scaled, what="nvidia scaled to 5")
    live = await cluster.get("Deployment", name)
    pod = live["spec"]["template"]["spec"]
    assert live["metadata"]["annotations"]["team.example/owner"] == "platform"
    assert pod["priorityClassName"] == "inference-high"
    assert [c["name"] for c in pod["containers"]] == ["vllm", "log-shipper"]
    assert {"name": "EXTRA", "value": "1"} in pod["containers"][0]["env"]
    managers = {(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]}
    assert ("heteropool", "Apply") in managers


async def test_a_field_heteropool_renders_is_set_back_when_changed(cluster: Any, pool_manifest: Manifest) -> None:
    await cluster.start_operator()
    await cluster.create(pool_manifest())
    await cluster.wait(lambda: _children_present(cluster), what="all children")
    name = f"{POOL}-vllm-amd"
    await cluster.kube.patch(KINDS["Deployment"], cluster.namespace, name, {"spec": {"replicas": 1}})

    async def restored() -> bool:
        return await _replicas(cluster, name) == 8

    await cluster.wait(restored, what="amd replicas restored from the spec")


async def test_an_autoscaled_group_keeps_the_replicas_its_autoscaler_set(cluster: Any, pool_manifest: Manifest) -> None:
    await cluster.start_operator()
    manifest = pool_manifest()
    manifest["spec"]["vendors"][1]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 12}
    await cluster.create(manifest)
    await cluster.wait(lambda: _children_present(cluster, autoscalers=1), what="all children and the HPA")
    name = f"{POOL}-vllm-amd"
    # The HorizontalPodAutoscaler scales the group (as its own field manager).
    await cluster.kube.patch(KINDS["Deployment"], cluster.namespace, name, {"spec": {"replicas": 11}})
    manifest["spec"]["vendors"][1]["autoscaling"]["maxReplicas"] = 16
    manifest["spec"]["vendors"][0]["replicas"] = 5
    await cluster.patch_pool(POOL, {"spec": {"vendors": manifest["spec"]["vendors"]}})

    async def nvidia_scaled() -> bool:
        return await _replicas(cluster, f"{POOL}-vllm-nvidia") == 5

    await cluster.wait(nvidia_scaled, what="the pool change applied")
    live = await cluster.get("Deployment", name)
    assert live["spec"]["replicas"] == 11
    ours = next(e for e in live["metadata"]["managedFields"] if e["manager"] == "heteropool")
    assert "f:replicas" not in ours["fieldsV1"]["f:spec"]


async def test_kinds_the_cluster_does_not_serve_are_skipped_and_named(cluster: Any, pool_manifest: Manifest) -> None:
    from heteropool.handlers.apply import Owner, apply_children

    cluster.require_emulator()  # serves neither KEDA's ScaledObject nor the Gateway API inference kinds
    owner = Owner(name="probe", namespace=cluster.namespace, uid="00000000-0000-0000-0000-000000000001")
    labels = {"heteropool.dev/pool": "probe", "app.kubernetes.io/managed-by": "heteropool-operator"}
    inference_pool = {
        "apiVersion": "inference.networking.k8s.io/v1",
        "kind": "InferencePool",
        "metadata": {"name": "probe", "namespace": cluster.namespace, "labels": labels},
        "spec": {},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "probe", "namespace": cluster.namespace, "labels": labels},
    }
    result = await apply_children(cluster.kube, owner, [inference_pool, config])
    assert result.unserved == [
        f"InferencePool {cluster.namespace}/probe: inference.networking.k8s.io/v1 InferencePool is not served by this "
        "cluster (is its CRD installed?)"
    ]
    assert {"InferencePool", "ScaledObject"} <= result.unserved_kinds
    assert result.created == [f"ConfigMap {cluster.namespace}/probe"]
    # A pool says which kinds it could not check.
    await cluster.start_operator()
    await cluster.create(pool_manifest())

    async def noted() -> Any:
        degraded = await cluster.condition(POOL, "Degraded")
        return degraded if degraded and "ScaledObject" in degraded["message"] else None

    degraded = await cluster.wait(noted, what="the skipped kind named in status")
    assert degraded["status"] == "False"
