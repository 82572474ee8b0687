"""The operator in the loop: a pool becomes children and status, and stays that way."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


POOL = "granite"
VLLM = {f"{POOL}-vllm-nvidia", f"{POOL}-vllm-amd", f"{POOL}-vllm-intel-gaudi"}
DATA_PLANE = {f"{POOL}-gateway", f"{POOL}-epp"}  # Envoy, the Endpoint Picker
DEPLOYMENTS = VLLM | DATA_PLANE
EXPECTED = {
    ("ConfigMap", f"{POOL}-routing"),
    ("ConfigMap", f"{POOL}-envoy"),
    ("ServiceAccount", f"{POOL}-epp"),
    ("Role", f"{POOL}-epp"),
    ("RoleBinding", f"{POOL}-epp"),
    *{("Deployment", name) for name in DEPLOYMENTS},
    *{("Service", name) for name in DEPLOYMENTS},
    ("ServiceAccount", f"{POOL}-vllm"),
    ("NetworkPolicy", f"{POOL}-vllm"),
    *{("PodDisruptionBudget", name) for name in DEPLOYMENTS},
}
Manifest = Callable[..., dict[str, Any]]


async def _all_children(cluster: Any, expected: set[tuple[str, str]] = EXPECTED) -> dict[tuple[str, str], Any] | None:
    children = await cluster.children(POOL)
    return children if set(children) == expected else None


async def _versions(cluster: Any) -> dict[tuple[str, str], str]:
    """Every child's resourceVersion: a write that changed nothing leaves it as it was."""
    return {key: obj["metadata"]["resourceVersion"] for key, obj in (await cluster.children(POOL)).items()}


async def test_created_pool_gets_every_child_owned_and_labelled(cluster: Any, pool_manifest: Manifest) -> None:
    await cluster.start_operator()
    started = time.monotonic()
    pool = await cluster.create(pool_manifest())
    children = await cluster.wait(lambda: _all_children(cluster), what="all children")
    elapsed = time.monotonic() - started
    print(f"\nCR create -> all {len(children)} children present: {elapsed:.2f}s")
    for obj in children.values():
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref["uid"] == pool["metadata"]["uid"] and ref["kind"] == "HeteroInferencePool" and ref["controller"]
        labels = obj["metadata"]["labels"]
        assert labels["heteropool.dev/pool"] == POOL and labels["app.kubernetes.io/managed-by"] == "heteropool-operator"
    body = await cluster.get("HeteroInferencePool", POOL)
    # GitOps stays clean: kopf's bookkeeping lives in status, and no finalizer blocks deletion.
    assert not [k for k in body["metadata"].get("annotations") or {} if k.startswith("kopf.zalando.org")]
    assert not body["metadata"].get("finalizers")  # deleting a pool never waits for the operator


async def test_status_reports_replicas_and_becomes_ready_when_deployments_are_available(
    cluster: Any, pool_manifest: Manifest
) -> None:
    await cluster.start_operator()
    await cluster.create(pool_manifest())
    await cluster.wait(lambda: _all_children(cluster), what="all children")
    ready = await cluster.wait(lambda: cluster.condition(POOL, "Ready"), what="a Ready condition")
    assert ready["status"] == "False" and ready["reason"] == "ReplicasNotReady"
    for name in DEPLOYMENTS:
        await cluster.mark_available(name)

    async def is_ready() -> Any:
        condition = await cluster.condition(POOL, "Ready")
        return condition if condition and condition["status"] == "True" else None

    ready = await cluster.wait(is_ready, what="Ready=True")
    status = (await cluster.get("HeteroInferencePool", POOL))["status"]
    assert ready["reason"] == "AllReplicasReady" and ready["observedGeneration"] == status["observedGeneration"]
    assert status["replicas"] == "20/20" and status["vendorSummary"] == "nvidia,amd,intel-gaudi"
    assert {v["name"]: v["readyReplicas"] for v in status["vendors"]} == {"nvidia": 4, "amd": 8, "intel-gaudi": 8}
    assert sum(v["weight"] for v in status["vendors"]) == pytest.approx(1.0, abs=1e-3)
    progressing = await cluster.condition(POOL, "Progressing")
    degraded = await cluster.condition(POOL, "Degraded")
    assert progressing["status"] == "False" and degraded["status"] == "False"


async def test_scaling_one_vendor_changes_only_its_deployment(cluster: Any, pool_manifest: Manifest) -> None:
    await cluster.start_operator()
    manifest = pool_manifest()
    await cluster.create(manifest)
    await cluster.wait(lambda: _all_children(cluster), what="all children")
    await cluster.wait(lambda: cluster.condition(POOL, "Ready"), what="status")
    before = await _versions(cluster)
    vendors = manifest["spec"]["vendors"]
    vendors[1]["replicas"] = 3
    await cluster.patch_pool(POOL, {"spec": {"vendors": vendors}})

    async def scaled() -> bool:
        deployment = await cluster.get("Deployment", f"{POOL}-vllm-amd")
        return deployment["spec"]["replicas"] == 3

    await cluster.wait(scaled, what="amd scaled to 3")
    after = await _versions(cluster)
    # The amd Deployment, and the routing document, whose prior-based shares follow replica counts.
    assert sorted(key for key in after if after[key] != before[key]) == [
        ("ConfigMap", f"{POOL}-routing"),
        ("Deployment", f"{POOL}-vllm-amd"),
    ]


async def test_removing_a_vendor_removes_its_children_and_keeps_the_rest(cluster: Any, pool_manifest: Manifest) -> None:
    await cluster.start_operator()
    manifest = pool_manifest()
    await cluster.create(manifest)
    await cluster.wait(lambda: _all_children(cluster), what="all children")
    for name in DEPLOYMENTS:
        await cluster.mark_available(name)  # the groups that stay serve, so the removed one may go
    kept = await cluster.get("Deployment", f"{POOL}-vllm-nvidia")
    await cluster.patch_pool(POOL, {"spec": {"vendors": manifest["spec"]["vendors"][:2]}})
    gone = f"{POOL}-vllm-intel-gaudi"
    remaining = EXPECTED - {("Deployment", gone), ("Service", gone), ("PodDisruptionBudget", gone)}
    await cluster.wait(lambda: _all_children(cluster, remaining), what="gaudi children gone")
    after = await cluster.get("Deployment", f"{POOL}-vllm-nvidia")
    assert after["metadata"]["uid"] == kept["metadata"]["uid"]


async def test_invalid_spec_sets_degraded_and_touches_nothing(cluster: Any, pool_manifest: Manifest) -> None:
    emulator = cluster.require_emulator()
    await cluster.start_operator()
    manifest = pool_manifest()
    await cluster.create(manifest)
    before = await cluster.wait(lambda: _all_children(cluster), what="all children")
    mark = emulator.write_log.mark()
    # Valid for the schema, wrong for the operator: a static weight for a group the pool lacks.
    await cluster.patch_pool(POOL, {"spec": {"weights": {"mode": "static", "static": {"nvidia": 1, "google-tpu": 1}}}})

    async def degraded() -> Any:
        condition = await cluster.condition(POOL, "Degraded")
        return condition if condition and condition["reason"] == "InvalidSpec" else None

    condition = await cluster.wait(degraded, what="Degraded=InvalidSpec")
    assert condition["status"] == "True" and "spec.weights.static[google-tpu]" in condition["message"]
    ready = await cluster.condition(POOL, "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    after = await cluster.children(POOL)
    assert {k: v["metadata"]["resourceVersion"] for k, v in after.items()} == {
        k: v["metadata"]["resourceVersion"] for k, v in before.items()
    }
    child_writes = [
        w
        for w in emulator.write_log.select(since=mark)
        if "heteroinferencepools" not in w.path and "/events" not in w.path
    ]
    assert [w for w in child_writes if w.method != "PATCH"] == []  # no create, delete or replace


async def test_roce_network_must_be_declared(cluster: Any, pool_manifest: Manifest) -> None:
    cluster.require_emulator()  # needs the NetworkAttachmentDefinition CRD
    await cluster.start_operator()
    manifest = pool_manifest()
    manifest["spec"]["vendors"][0]["roce"] = {"networks": [{"name": "roce-nvidia", "interface": "net1"}]}
    await cluster.create(manifest)

    async def degraded() -> Any:
        condition = await cluster.condition(POOL, "Degraded")
        return condition if condition and condition["status"] == "True" else None

    condition = await cluster.wait(degraded, what="Degraded")
    assert condition["reason"] == "NetworkNotFound"
    assert condition["message"].startswith("spec.vendors[0].roce.networks[0].name: NetworkAttachmentDefinition")
    # Everything that does not need the network is there; the nvidia group waits for it.
    await cluster.wait(
        lambda: _all_children(cluster, EXPECTED - {("Deployment", f"{POOL}-vllm-nvidia")}), what="the rest"
    )


def _reconciles(context: Any, trigger: str) -> float:
    value = context.metrics.registry.get_sample_value(
        "heteropool_operator_reconciles_total", {"trigger": trigger, "result": "ok"}
    )
    return value or 0.0


async def test_restarted_operator_converges_without_duplicates_or_writes(cluster: Any, pool_manifest: Manifest) -> None:
    emulator = cluster.require_emulator()
    await cluster.start_operator()
    await cluster.create(pool_manifest())
    await cluster.wait(lambda: _all_children(cluster), what="all children")
    await cluster.wait(lambda: cluster.condition(POOL, "Ready"), what="status")
    await cluster.stop_operators()
    before = emulator.resource_version
    context = await cluster.start_operator()  # resumes every pool: a re-reconcile with no spec change

    async def resumed_and_resynced() -> bool:
        return _reconciles(context, "resume") >= 1 and _reconciles(context, "resync") >= 1

    await cluster.wait(resumed_and_resynced, what="resume and resync passes")
    children = await cluster.children(POOL)
    await cluster.stop_operators()
    # "No writes" as the API server counts them: nothing it stores changed, so no resourceVersion moved.
    assert emulator.resource_version == before
    assert set(children) == EXPECTED


async def test_injected_conflicts_and_server_errors_are_retried_until_consistent(
    cluster: Any, pool_manifest: Manifest
) -> None:
    emulator = cluster.require_emulator()
    emulator.inject_faults(method="POST", path_contains="/deployments", status=500, times=2)
    emulator.inject_faults(method="POST", path_contains="/services", status=409, times=1)
    emulator.inject_faults(method="GET", path_contains="/configmaps/", status=429, times=1, retry_after=1)
    await cluster.start_operator()
    await cluster.create(pool_manifest())
    await cluster.wait(lambda: _all_children(cluster), timeout=30, what="all children despite faults")
    for name in DEPLOYMENTS:
        await cluster.mark_available(name)

    async def is_ready() -> Any:
        condition = await cluster.condition(POOL, "Ready")
        return condition if condition and condition["status"] == "True" else None

    await cluster.wait(is_ready, timeout=30, what="Ready=True despite faults")


async def test_deleted_child_is_recreated(cluster: Any, pool_manifest: Manifest) -> None:
    from heteropool.handlers.kube import KINDS

    await cluster.start_operator()
    await cluster.create(pool_manifest())
    await cluster.wait(lambda: _all_children(cluster), what="all children")
    await cluster.kube.delete(KINDS["Service"], cluster.namespace, f"{POOL}-gateway")
    await cluster.wait(lambda: _all_children(cluster), what="the gateway Service back")


async def test_child_owned_by_someone_else_is_left_alone_and_reported(cluster: Any, pool_manifest: Manifest) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{POOL}-routing", "labels": {"team": "other"}},
        "data": {"owner": "someone else"},
    }
    await cluster.create(foreign)
    await cluster.start_operator()
    await cluster.create(pool_manifest())

    async def degraded() -> Any:
        condition = await cluster.condition(POOL, "Degraded")
        return condition if condition and condition["status"] == "True" else None

    condition = await cluster.wait(degraded, what="Degraded=ChildConflict")
    assert (
        condition["reason"] == "ChildConflict"
        and f"ConfigMap {cluster.namespace}/{POOL}-routing" in condition["message"]
    )
    assert (await cluster.get("ConfigMap", f"{POOL}-routing"))["data"] == {"owner": "someone else"}


async def test_autoscaled_group_gets_an_hpa_and_its_scaling_is_not_reverted(
    cluster: Any, pool_manifest: Manifest
) -> None:
    from heteropool.handlers.kube import KINDS

    await cluster.start_operator()
    manifest = pool_manifest()
    manifest["spec"]["vendors"][0]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 8}
    await cluster.create(manifest)
    expected = EXPECTED | {("HorizontalPodAutoscaler", f"{POOL}-vllm-nvidia")}
    await cluster.wait(lambda: _all_children(cluster, expected), what="children and the HPA")
    name = f"{POOL}-vllm-nvidia"
    # Play the HPA: scale the group; the operator must take that as the group's desired count.
    await cluster.kube.patch(KINDS["Deployment"], cluster.namespace, name, {"spec": {"replicas": 5}})

    async def reported() -> Any:
        body = await cluster.get("HeteroInferencePool", POOL) or {}
        groups = {v["name"]: v for v in (body.get("status") or {}).get("vendors", [])}
        scaling = groups.get("nvidia", {}).get("autoscaling") or {}
        return scaling if scaling.get("desiredReplicas") == 5 else None

    scaling = await cluster.wait(reported, what="status reporting the autoscaler's 5 replicas")
    assert (scaling["minReplicas"], scaling["maxReplicas"]) == (2, 8)
    assert (await cluster.get("Deployment", name))["spec"]["replicas"] == 5


def _install_crds(cluster: Any, file_name: str) -> None:
    """Serve the CRDs in `file_name` (beside this file) from the emulator, as installing them would."""
    cluster.require_emulator().load_crds(Path(__file__).with_name(file_name))


async def _autoscaler_kinds(cluster: Any) -> set[str]:
    from heteropool.handlers.kube import KINDS

    found = set()
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        try:
            if await cluster.kube.list(KINDS[kind], cluster.namespace, label_selector=f"heteropool.dev/pool={POOL}"):
                found.add(kind)
        except Exception:  # noqa: BLE001 - the API is not served: nothing of that kind
            pass
    return found


@pytest.mark.parametrize("keda_installed", [True, False], ids=["keda", "no-keda"])
async def test_keda_scaled_object_only_where_keda_is_installed(
    cluster: Any, pool_manifest: Manifest, keda_installed: bool
) -> None:
    from heteropool.settings import RenderSettings

    if keda_installed:
        _install_crds(cluster, "keda-scaledobject-crd.yaml")
    await cluster.start_operator(RenderSettings(keda_prometheus_url="http://prometheus.monitoring:9090"))
    manifest = pool_manifest()
    manifest["spec"]["vendors"][0]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 8}
    await cluster.create(manifest)
    expected = {"ScaledObject"} if keda_installed else {"HorizontalPodAutoscaler"}

    async def autoscaled() -> bool:
        return await _autoscaler_kinds(cluster) == expected

    await cluster.wait(autoscaled, what=f"the group's {expected}")


@pytest.mark.parametrize("installed", [True, False], ids=["gateway-api", "no-gateway-api"])
async def test_gateway_mode_renders_an_inference_pool_and_route_or_says_what_is_missing(
    cluster: Any, pool_manifest: Manifest, installed: bool
) -> None:
    if installed:
        _install_crds(cluster, "gateway-api-crds.yaml")
    await cluster.start_operator()
    manifest = pool_manifest()
    manifest["spec"]["gateway"]["parentRefs"] = [{"name": "inference-gateway", "namespace": "gateway-system"}]
    await cluster.create(manifest)
    no_envoy = (
        EXPECTED
        - {(kind, f"{POOL}-gateway") for kind in ("Deployment", "Service", "PodDisruptionBudget")}
        - {("ConfigMap", f"{POOL}-envoy")}
    )
    await cluster.wait(lambda: _all_children(cluster, no_envoy), what="every child but Envoy's")
    if installed:
        pool = await cluster.wait(lambda: cluster.get("InferencePool", POOL), what="the InferencePool")
        assert pool["spec"]["endpointPickerRef"]["name"] == f"{POOL}-epp"
        route = await cluster.wait(lambda: cluster.get("HTTPRoute", POOL), what="the HTTPRoute")
        assert route["spec"]["parentRefs"][0]["name"] == "inference-gateway"
    else:

        async def says_so() -> dict[str, Any] | None:
            condition = await cluster.condition(POOL, "Degraded")
            return condition if condition and condition["reason"] == "KindNotInstalled" else None

        condition = await cluster.wait(says_so, what="Degraded=KindNotInstalled")
        assert "InferencePool" in condition["message"] and "is its CRD installed?" in condition["message"]


async def test_switching_off_the_network_policy_and_a_budget_removes_them(
    cluster: Any, pool_manifest: Manifest
) -> None:
    await cluster.start_operator()
    manifest = pool_manifest()
    await cluster.create(manifest)
    await cluster.wait(lambda: _all_children(cluster), what="all children")
    vendors = manifest["spec"]["vendors"]
    vendors[0]["disruptionBudget"] = {"enabled": False}
    await cluster.patch_pool(POOL, {"spec": {"networkPolicy": {"enabled": False}, "vendors": vendors}})
    remaining = EXPECTED - {("NetworkPolicy", f"{POOL}-vllm"), ("PodDisruptionBudget", f"{POOL}-vllm-nvidia")}
    await cluster.wait(lambda: _all_children(cluster, remaining), what="the NetworkPolicy and nvidia's budget pruned")


async def test_switching_modes_keeps_the_old_data_plane_until_the_new_one_serves(
    cluster: Any, pool_manifest: Manifest
) -> None:
    from heteropool.handlers.kube import KINDS

    _install_crds(cluster, "gateway-api-crds.yaml")
    await cluster.start_operator()
    manifest = pool_manifest()
    await cluster.create(manifest)
    await cluster.wait(lambda: _all_children(cluster), what="all children")
    envoy = {(kind, f"{POOL}-gateway") for kind in ("Deployment", "Service", "PodDisruptionBudget")}

    # To Gateway mode: the Envoy keeps serving until a Gateway accepts the route.
    gateway = {**manifest["spec"]["gateway"], "parentRefs": [{"name": "inference-gateway"}]}
    await cluster.patch_pool(POOL, {"spec": {"gateway": gateway}})
    route = await cluster.wait(lambda: cluster.get("HTTPRoute", POOL), what="the HTTPRoute")

    async def says_it_waits() -> dict[str, Any] | None:
        condition = await cluster.condition(POOL, "Progressing")
        return (
            condition if condition and "until a Gateway (inference-gateway) accepts" in condition["message"] else None
        )

    await cluster.wait(says_it_waits, what="Progressing says it waits for the Gateway")
    assert envoy <= set(await cluster.children(POOL))
    accepted = {
        "type": "Accepted",
        "status": "True",
        "reason": "Accepted",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 1,
    }
    status = {
        "parents": [
            {
                "parentRef": route["spec"]["parentRefs"][0],
                "controllerName": "example.com/gateway",
                "conditions": [accepted],
            }
        ]
    }
    await cluster.kube.patch(KINDS["HTTPRoute"], cluster.namespace, POOL, {"status": status}, subresource="status")

    async def envoy_gone() -> bool:
        return not envoy & set(await cluster.children(POOL))

    await cluster.wait(envoy_gone, what="the Envoy pruned once the route was accepted")
    body = await cluster.get("HeteroInferencePool", POOL)
    (parent,) = body["status"]["gateway"]["parents"]
    assert (parent["name"], parent["routeAccepted"], parent["inferencePoolAccepted"]) == (
        "inference-gateway",
        True,
        False,
    )

    # Back to standalone: the route and InferencePool stay until an Envoy replica is ready.
    await cluster.patch_pool(POOL, {"spec": {"gateway": {**gateway, "parentRefs": []}}})
    await cluster.wait(lambda: cluster.get("Deployment", f"{POOL}-gateway"), what="the Envoy Deployment")
    assert await cluster.get("HTTPRoute", POOL) is not None and await cluster.get("InferencePool", POOL) is not None
    await cluster.mark_available(f"{POOL}-gateway")

    async def route_gone() -> bool:
        return await cluster.get("HTTPRoute", POOL) is None and await cluster.get("InferencePool", POOL) is None

    await cluster.wait(route_gone, what="the HTTPRoute and InferencePool pruned once Envoy was ready")
