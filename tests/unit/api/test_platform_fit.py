"""What a platform team checks in the rendered objects: overlays merged as documented, autoscalers
rendered and left in charge, NetworkPolicy peers that admit exactly the pods they should, pod
identity and capabilities, images that follow the mirror, and the preStop drain."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes_validate
import pytest

from heteropool.handlers.conditions import DeploymentState, summarise
from heteropool.podtemplate import apply_pod_template_overlay
from heteropool.render import (
    OPERATOR_POD_LABELS,
    expected_objects,
    expected_vllm_deployment,
)
from heteropool.semantics import SpecError, parse_manifest
from heteropool.settings import RenderSettings, with_registry
from heteropool.sim.server import SimSettings, build_app
from heteropool.vendors import VENDOR_PROFILES
from heteropool_testing.selectors_eval import admits, selector_matches

Sample = Callable[[str], dict[str, Any]]


def _group(manifest: dict[str, Any], index: int = 0, **fields: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(manifest)
    manifest["spec"]["vendors"][index].update(fields)
    return manifest


def _pod(deployment: Mapping[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]  # type: ignore[no-any-return]


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


# --- podTemplate overlay -------------------------------------------------------------------------

RENDERED = {
    "metadata": {"labels": {"app": "x"}, "annotations": {"a": "1"}},
    "spec": {
        "nodeSelector": {"zone": "a"},
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "containers": [
            {
                "name": "main",
                "image": "img",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
                "resources": {"limits": {"memory": "1Gi"}},
            }
        ],
        "volumes": [{"name": "shm", "emptyDir": {}}],
        "securityContext": {"runAsNonRoot": True},
        "args": ["--x"],
    },
}


def test_overlay_merges_maps_by_key_and_replaces_scalars() -> None:
    merged = apply_pod_template_overlay(
        RENDERED,
        {
            "metadata": {"labels": {"team": "ml"}, "annotations": {"a": "2"}},
            "spec": {"nodeSelector": {"pool": "gpu"}, "priorityClassName": "high", "securityContext": {"fsGroup": 7}},
        },
    )
    assert merged["metadata"] == {"labels": {"app": "x", "team": "ml"}, "annotations": {"a": "2"}}
    assert merged["spec"]["nodeSelector"] == {"zone": "a", "pool": "gpu"}
    assert merged["spec"]["priorityClassName"] == "high"
    assert merged["spec"]["securityContext"] == {"runAsNonRoot": True, "fsGroup": 7}


def test_overlay_merges_named_lists_by_key_and_appends_tolerations() -> None:
    merged = apply_pod_template_overlay(
        RENDERED,
        {
            "spec": {
                "tolerations": [{"key": "spot", "operator": "Exists"}, {"key": "gpu", "operator": "Exists"}],
                "volumes": [{"name": "shm", "hostPath": {"path": "/dev/shm"}}, {"name": "extra", "emptyDir": {}}],
                "containers": [
                    {  # no name: the main container
                        "env": [
                            {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                            {"name": "C", "value": "3"},
                        ],
                        "volumeMounts": [{"name": "extra", "mountPath": "/extra"}],
                        "resources": {"limits": {"cpu": "2"}},
                    },
                    {"name": "sidecar", "image": "side"},
                ],
                "args": ["--y"],
            }
        },
    )
    spec = merged["spec"]
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists"}, {"key": "spot", "operator": "Exists"}]
    assert spec["volumes"] == [{"name": "shm", "hostPath": {"path": "/dev/shm"}}, {"name": "extra", "emptyDir": {}}]
    main, sidecar = spec["containers"]
    assert main["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},  # replaced whole, not merged
        {"name": "C", "value": "3"},
    ]
    assert [m["mountPath"] for m in main["volumeMounts"]] == ["/dev/shm", "/extra"]
    assert main["resources"] == {"limits": {"memory": "1Gi", "cpu": "2"}}
    assert main["image"] == "img"
    assert sidecar == {"name": "sidecar", "image": "side"}
    assert spec["args"] == ["--y"]  # other lists are replaced


def test_overlay_leaves_its_inputs_alone() -> None:
    before = copy.deepcopy(RENDERED)
    overlay = {"spec": {"containers": [{"env": [{"name": "Z", "value": "1"}]}]}}
    apply_pod_template_overlay(RENDERED, overlay)
    assert RENDERED == before and overlay == {"spec": {"containers": [{"env": [{"name": "Z", "value": "1"}]}]}}


def test_group_pod_template_applies_after_the_group_fields(sample: Sample) -> None:
    manifest = _group(
        sample("nvidia-only.yaml"),
        nodeSelector={"nvidia.com/gpu.product": "H100"},
        tolerations=[{"key": "a", "operator": "Exists"}],
        podTemplate={
            "metadata": {"labels": {"team": "ml"}, "annotations": {"cost-center": "42"}},
            "spec": {
                "nodeSelector": {"nvidia.com/gpu.product": "H200", "zone": "b"},
                "tolerations": [{"key": "b", "operator": "Exists"}],
                "priorityClassName": "inference",
                "serviceAccountName": "model-reader",
                "volumes": [{"name": "certs", "secret": {"secretName": "certs"}}],
                "containers": [
                    {
                        "env": [{"name": "EXTRA", "value": "1"}],
                        "volumeMounts": [{"name": "certs", "mountPath": "/certs"}],
                    }
                ],
            },
        },
    )
    pool = parse_manifest(manifest)
    deployment = expected_vllm_deployment(pool, pool.spec.vendors[0])
    template, spec = _pod(deployment), _pod(deployment)["spec"]
    assert template["metadata"]["labels"]["team"] == "ml"
    assert template["metadata"]["labels"]["heteropool.dev/pool"] == pool.name  # rendered labels stay
    assert template["metadata"]["annotations"]["cost-center"] == "42"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "H200", "zone": "b"}  # overlay wins per key
    assert [t["key"] for t in spec["tolerations"]] == ["nvidia.com/gpu", "a", "b"]
    assert spec["priorityClassName"] == "inference" and spec["serviceAccountName"] == "model-reader"
    (container,) = spec["containers"]
    assert {"name": "EXTRA", "value": "1"} in container["env"]
    assert [m["name"] for m in container["volumeMounts"]] == ["shm", "model-cache", "certs"]
    for version in ("1.30", "1.34"):
        kubernetes_validate.validate(deployment, version, strict=True)


@pytest.mark.parametrize(
    ("overlay", "path"),
    [
        (
            {"metadata": {"labels": {"heteropool.dev/group": "other"}}},
            "podTemplate.metadata.labels[heteropool.dev/group]",
        ),
        ({"spec": {"volumes": [{"emptyDir": {}}]}}, "podTemplate.spec.volumes[0].name"),
        ({"spec": {"tolerations": {"key": "x"}}}, "podTemplate.spec.tolerations"),
        ({"spec": {"containers": [{"env": [{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}]}]}}, "env[0].name"),
    ],
    ids=["selector-label", "nameless-volume", "tolerations-not-a-list", "device-plugin-env"],
)
def test_pod_template_that_would_break_the_group_is_rejected_naming_the_field(
    sample: Sample, overlay: dict[str, Any], path: str
) -> None:
    with pytest.raises(SpecError, match=path.replace("[", r"\[").replace("]", r"\]")):
        parse_manifest(_group(sample("nvidia-only.yaml"), podTemplate=overlay))


# --- autoscaling ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signal", "metric_type", "metric_name", "target"),
    [
        ("waitingRequests", "Pods", "vllm_num_requests_waiting", "4"),
        ("kvCacheUsage", "Pods", "vllm_kv_cache_usage_perc", "800m"),
        ("capacityShare", "External", "heteropool_operator_vendor_utilization_ratio", "800m"),
    ],
)
def test_autoscaled_group_renders_an_hpa_on_its_signal(
    sample: Sample, signal: str, metric_type: str, metric_name: str, target: str
) -> None:
    pool = parse_manifest(
        _group(sample("nvidia-only.yaml"), autoscaling={"minReplicas": 2, "maxReplicas": 8, "signal": signal})
    )
    objects = expected_objects(pool)
    (hpa,) = _by_kind(objects, "HorizontalPodAutoscaler")
    deployment = next(
        o for o in _by_kind(objects, "Deployment") if o["metadata"]["name"] == hpa["spec"]["scaleTargetRef"]["name"]
    )
    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == metric_type
    source = metric[metric_type.lower()]
    assert source["metric"]["name"] == metric_name
    assert target in source["target"].values()
    for version in ("1.30", "1.34"):
        kubernetes_validate.validate(hpa, version, strict=True)


def test_groups_without_autoscaling_keep_their_replicas_and_get_no_autoscaler(sample: Sample) -> None:
    objects = expected_objects(parse_manifest(sample("granite-3vendor.yaml")))
    assert not _by_kind(objects, "HorizontalPodAutoscaler")
    assert all("replicas" in d["spec"] for d in _by_kind(objects, "Deployment"))


def test_keda_replaces_the_hpa_when_the_operator_knows_its_prometheus(sample: Sample) -> None:
    pool = parse_manifest(
        _group(sample("nvidia-only.yaml"), autoscaling={"maxReplicas": 4, "signal": "capacityShare", "target": 0.7})
    )
    settings = RenderSettings(keda_prometheus_url="http://prometheus.monitoring:9090")
    objects = expected_objects(pool, settings=settings)
    assert not _by_kind(objects, "HorizontalPodAutoscaler")
    (scaled,) = _by_kind(objects, "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["serverAddress"] == "http://prometheus.monitoring:9090"
    assert trigger["metadata"]["threshold"] == "0.7" and trigger["metricType"] == "Value"
    assert f'pool="{pool.name}"' in trigger["metadata"]["query"]


def test_status_reports_the_autoscalers_desired_and_current_replicas(sample: Sample) -> None:
    pool = parse_manifest(_group(sample("nvidia-only.yaml"), autoscaling={"minReplicas": 1, "maxReplicas": 8}))
    name = expected_vllm_deployment(pool, pool.spec.vendors[0])["metadata"]["name"]
    states = {name: DeploymentState(name, desired=5, ready=3, updated=5, current=True, stalled=False, existing=4)}
    status = summarise(pool, generation=1, deployments=states, previous={}, now="2026-01-01T00:00:00Z")
    (group,) = status["vendors"]
    assert group["desiredReplicas"] == 5 and group["readyReplicas"] == 3
    assert group["autoscaling"] == {"minReplicas": 1, "maxReplicas": 8, "desiredReplicas": 5, "currentReplicas": 4}
    assert status["replicas"] == "3/5"


def test_min_above_max_is_rejected_at_admission(
    sample: Sample, check_schema: Callable[[dict[str, Any]], list[str]]
) -> None:
    manifest = _group(sample("nvidia-only.yaml"), autoscaling={"minReplicas": 5, "maxReplicas": 2})
    assert any("minReplicas must not exceed" in e for e in check_schema(manifest))


# --- disruption budgets --------------------------------------------------------------------------


def test_every_group_gets_a_disruption_budget_over_exactly_its_pods(sample: Sample) -> None:
    manifest = _group(sample("granite-3vendor.yaml"), 1, disruptionBudget={"minAvailable": "50%"})
    manifest["spec"]["vendors"][2]["disruptionBudget"] = {"enabled": False}
    objects = expected_objects(parse_manifest(manifest))
    budgets = {
        b["metadata"]["name"]: b
        for b in _by_kind(objects, "PodDisruptionBudget")
        if b["metadata"]["labels"]["app.kubernetes.io/component"] == "model-server"
    }
    deployments = {d["metadata"]["name"]: d for d in _by_kind(objects, "Deployment")}
    assert len(budgets) == 2
    for name, budget in budgets.items():
        for other, deployment in deployments.items():
            matches = selector_matches(budget["spec"]["selector"], _pod(deployment)["metadata"]["labels"])
            assert matches == (other == name)
    assert budgets["granite-vllm-nvidia"]["spec"]["maxUnavailable"] == 1
    assert budgets["granite-vllm-amd"]["spec"]["minAvailable"] == "50%"


def test_the_data_plane_gets_disruption_budgets_over_exactly_its_pods(sample: Sample) -> None:
    manifest = copy.deepcopy(sample("granite-3vendor.yaml"))
    manifest["spec"].setdefault("gateway", {})["envoy"] = {"disruptionBudget": {"minAvailable": 1}}
    objects = expected_objects(parse_manifest(manifest))
    budgets = {b["metadata"]["name"]: b for b in _by_kind(objects, "PodDisruptionBudget")}
    deployments = {d["metadata"]["name"]: d for d in _by_kind(objects, "Deployment")}
    for name in ("granite-gateway", "granite-epp"):
        for other, deployment in deployments.items():
            assert selector_matches(budgets[name]["spec"]["selector"], _pod(deployment)["metadata"]["labels"]) == (
                other == name
            )
        for version in ("1.30", "1.34"):
            kubernetes_validate.validate(budgets[name], version, strict=True)
    assert budgets["granite-gateway"]["spec"]["minAvailable"] == 1
    assert budgets["granite-epp"]["spec"]["maxUnavailable"] == 1


def test_data_plane_budgets_can_be_switched_off_and_gateway_mode_has_no_envoy_budget(sample: Sample) -> None:
    manifest = copy.deepcopy(sample("granite-3vendor.yaml"))
    manifest["spec"].setdefault("gateway", {})["picker"] = {"disruptionBudget": {"enabled": False}}
    names = {b["metadata"]["name"] for b in _by_kind(expected_objects(parse_manifest(manifest)), "PodDisruptionBudget")}
    assert "granite-epp" not in names and "granite-gateway" in names
    manifest["spec"]["gateway"]["parentRefs"] = [{"name": "inference-gateway"}]
    names = {b["metadata"]["name"] for b in _by_kind(expected_objects(parse_manifest(manifest)), "PodDisruptionBudget")}
    assert "granite-gateway" not in names


# --- NetworkPolicy -------------------------------------------------------------------------------


def _pods(objects: list[dict[str, Any]], component: str) -> list[dict[str, str]]:
    return [
        _pod(d)["metadata"]["labels"]
        for d in _by_kind(objects, "Deployment")
        if _pod(d)["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]


def test_network_policy_selects_every_vllm_pod_of_the_pool_and_nothing_else(sample: Sample) -> None:
    objects = expected_objects(parse_manifest(sample("granite-3vendor.yaml")))
    (policy,) = _by_kind(objects, "NetworkPolicy")
    other = expected_objects(
        parse_manifest({**sample("granite-3vendor.yaml"), "metadata": {"name": "other", "namespace": "inference"}})
    )
    assert all(selector_matches(policy["spec"]["podSelector"], labels) for labels in _pods(objects, "model-server"))
    assert not any(selector_matches(policy["spec"]["podSelector"], labels) for labels in _pods(objects, "gateway"))
    assert not any(selector_matches(policy["spec"]["podSelector"], labels) for labels in _pods(other, "model-server"))
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    for version in ("1.30", "1.34"):
        kubernetes_validate.validate(policy, version, strict=True)


def test_network_policy_admits_the_data_plane_operator_and_monitoring_only(sample: Sample) -> None:
    settings = RenderSettings(
        operator_namespace="hp-system", monitoring_namespaces=("monitoring", "openshift-monitoring")
    )
    pool = parse_manifest(sample("granite-3vendor.yaml"))
    objects = expected_objects(pool, settings=settings)
    (policy,) = _by_kind(objects, "NetworkPolicy")
    ns = pool.namespace

    def check(pod_namespace: str, labels: Mapping[str, str]) -> bool:
        return admits(policy, policy_namespace=ns, pod_namespace=pod_namespace, pod_labels=labels)

    (gateway,) = _pods(objects, "gateway")
    assert check(ns, gateway)
    other_pool = _pods(
        expected_objects(
            parse_manifest({**sample("granite-3vendor.yaml"), "metadata": {"name": "b", "namespace": ns}})
        ),
        "gateway",
    )[0]
    assert not check(ns, other_pool)  # another pool's gateway bypasses nothing
    assert not check("elsewhere", gateway)  # the same labels in another namespace
    operator_pod = {**OPERATOR_POD_LABELS, "app.kubernetes.io/name": "heteropool", "app.kubernetes.io/instance": "hp"}
    assert check("hp-system", operator_pod)
    assert not check("default", operator_pod)
    assert check("monitoring", {"app": "prometheus"}) and check("openshift-monitoring", {})
    assert not check(ns, {"app": "curl"})  # any other pod in the pool's namespace
    assert not check(ns, _pods(objects, "model-server")[0])  # vLLM pods do not call each other over HTTP


def test_network_policy_admits_the_named_gateway_pods_and_can_be_switched_off(sample: Sample) -> None:
    manifest = sample("sim-pool.yaml")
    manifest["spec"]["networkPolicy"] = {
        "gatewayPods": [
            {"namespace": "gateways", "podLabels": {"gateway.networking.k8s.io/gateway-name": "inference"}}
        ],
        "monitoringNamespaces": [],
    }
    (policy,) = _by_kind(expected_objects(parse_manifest(manifest)), "NetworkPolicy")
    envoy = {"gateway.networking.k8s.io/gateway-name": "inference", "app": "envoy"}
    assert admits(policy, policy_namespace="default", pod_namespace="gateways", pod_labels=envoy)
    assert not admits(policy, policy_namespace="default", pod_namespace="gateways", pod_labels={"app": "envoy"})
    assert not admits(policy, policy_namespace="default", pod_namespace="monitoring", pod_labels={})

    manifest["spec"]["networkPolicy"] = {"enabled": False}
    assert not _by_kind(expected_objects(parse_manifest(manifest)), "NetworkPolicy")


# --- identity, capabilities, drain --------------------------------------------------------------


def test_vllm_pods_run_as_their_own_account_without_a_token(sample: Sample) -> None:
    objects = expected_objects(parse_manifest(sample("granite-3vendor.yaml")))
    accounts = {a["metadata"]["name"]: a for a in _by_kind(objects, "ServiceAccount")}
    for deployment in _by_kind(objects, "Deployment"):
        spec = _pod(deployment)["spec"]
        if _pod(deployment)["metadata"]["labels"]["app.kubernetes.io/component"] != "model-server":
            continue
        assert spec["automountServiceAccountToken"] is False
        assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False
    assert not any(b["subjects"][0]["name"] == "granite-vllm" for b in _by_kind(objects, "RoleBinding"))


def test_every_vllm_container_drops_all_capabilities_but_its_vendors(sample: Sample) -> None:
    for name in ("granite-3vendor.yaml", "sim-pool.yaml"):
        pool = parse_manifest(sample(name))
        for group in pool.spec.vendors:
            (container,) = _pod(expected_vllm_deployment(pool, group))["spec"]["containers"]
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            added = set(security["capabilities"].get("add", []))
            allowed = set(VENDOR_PROFILES[group.vendor].capabilities) | ({"IPC_LOCK"} if group.roce else set())
            assert added == allowed
    for profile in VENDOR_PROFILES.values():
        assert all(reason.strip() for reason in profile.capabilities.values())  # each one says why


def test_vllm_pods_drain_before_they_stop(sample: Sample) -> None:
    pool = parse_manifest(sample("granite-3vendor.yaml"))
    for group in pool.spec.vendors:
        spec = _pod(expected_vllm_deployment(pool, group))["spec"]
        delay = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert 0 < delay < spec["terminationGracePeriodSeconds"]


# --- images and OpenShift ------------------------------------------------------------------------


def _images(objects: list[dict[str, Any]]) -> set[str]:
    return {c["image"] for d in _by_kind(objects, "Deployment") for c in _pod(d)["spec"]["containers"]}


def test_registry_mirror_reaches_every_rendered_pod(sample: Sample) -> None:
    settings = RenderSettings(image_registry="mirror.corp:5000/hub")
    for name in ("granite-3vendor.yaml", "sim-pool.yaml"):
        images = _images(expected_objects(parse_manifest(sample(name)), settings=settings))
        assert images and all(i.startswith("mirror.corp:5000/hub/") for i in images), images


def test_image_overrides_win_over_the_mirror_and_a_groups_image_over_both(sample: Sample) -> None:
    settings = RenderSettings(image_registry="mirror", images={"heteropool": "registry.local/hp:dev", "nvidia": "n:1"})
    pool = parse_manifest(_group(sample("sim-pool.yaml"), 0, image="mine:1"))
    images = _images(expected_objects(pool, settings=settings))
    assert images == {"mine:1", "registry.local/hp:dev", "mirror/envoyproxy/envoy:v1.40.0"}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("vllm/vllm-openai:v1", "m.example/vllm/vllm-openai:v1"),
        ("ghcr.io/heteropool/heteropool:0.1.0", "m.example/heteropool/heteropool:0.1.0"),
        ("localhost:5000/x:1", "m.example/x:1"),
        ("vault.habana.ai/gaudi-docker/1.24.1/x:latest", "m.example/gaudi-docker/1.24.1/x:latest"),
    ],
)
def test_mirror_replaces_the_registry_host(image: str, expected: str) -> None:
    assert with_registry(image, "m.example/") == expected


def test_default_images_are_pinned() -> None:
    for profile in VENDOR_PROFILES.values():
        name, _, tag = profile.image.rpartition(":")
        assert name and tag and (tag != "latest" or "/1." in name), profile.image  # a version tag, or a versioned path


def test_openshift_mode_pins_no_uid_in_heteropools_pods(sample: Sample) -> None:
    objects = expected_objects(parse_manifest(sample("sim-pool.yaml")), settings=RenderSettings(fixed_uid=False))
    for deployment in _by_kind(objects, "Deployment"):
        security = _pod(deployment)["spec"]["securityContext"]
        assert "runAsUser" not in security and "runAsGroup" not in security
        assert security["runAsNonRoot"] is True
    default = expected_objects(parse_manifest(sample("sim-pool.yaml")))
    assert all(_pod(d)["spec"]["securityContext"]["runAsUser"] == 65532 for d in _by_kind(default, "Deployment"))


# --- the simulator's admin API -------------------------------------------------------------------


def _routes(settings: SimSettings) -> set[str]:
    return {r.resource.canonical for r in build_app(settings).router.routes() if r.resource is not None}


def test_sim_admin_api_is_off_unless_asked_for(sample: Sample) -> None:
    assert "/admin/config" not in _routes(SimSettings())
    assert "/admin/config" in _routes(SimSettings(admin_api=True))
    pool = parse_manifest(sample("sim-pool.yaml"))
    assert (
        "--enable-admin-api"
        not in _pod(expected_vllm_deployment(pool, pool.spec.vendors[0]))["spec"]["containers"][0]["args"]
    )
    pool = parse_manifest(_group(sample("sim-pool.yaml"), 0, simulator={"adminApi": True}))
    assert (
        "--enable-admin-api"
        in _pod(expected_vllm_deployment(pool, pool.spec.vendors[0]))["spec"]["containers"][0]["args"]
    )


# --- every new object validates strictly ---------------------------------------------------------


@pytest.mark.parametrize("version", ["1.30", "1.34", "1.37"])
def test_everything_a_fully_configured_pool_renders_validates(sample: Sample, version: str) -> None:
    manifest = _group(
        sample("granite-3vendor.yaml"),
        0,
        autoscaling={"minReplicas": 2, "maxReplicas": 6, "signal": "kvCacheUsage"},
        podTemplate={"spec": {"priorityClassName": "x", "containers": [{"env": [{"name": "A", "value": "1"}]}]}},
    )
    manifest["spec"]["vendors"][1]["autoscaling"] = {"maxReplicas": 3, "signal": "capacityShare"}
    manifest["spec"]["networkPolicy"] = {"gatewayPods": [{"namespace": "gw"}]}
    for obj in expected_objects(parse_manifest(manifest), settings=RenderSettings(image_registry="m", fixed_uid=False)):
        kubernetes_validate.validate(obj, version, strict=True)
