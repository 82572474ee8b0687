"""Rendering behaviour users and the operator rely on (beyond the per-vendor golden parts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from heteropool.render import (
    child_name,
    envoy_bootstrap_for,
    expected_envoy_configmap,
    expected_gateway_deployment,
    expected_objects,
    expected_picker_deployment,
    expected_picker_role,
    expected_routing_configmap,
    expected_vllm_deployment,
)
from heteropool.routing import ROUTING_CONFIG_KEY, ObjectivesRouting, RoutingConfig
from heteropool.routing_document import initial_shares
from heteropool.semantics import Pool, parse_manifest

Sample = Callable[[str], dict[str, Any]]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(deployment)["env"]}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_child_names_are_deterministic_and_fit_kubernetes_limits() -> None:
    long_pool = "p" * 63
    a = child_name(long_pool, "vllm", "nvidia-h100-nvl-group")
    b = child_name(long_pool, "vllm", "nvidia-h100-sxm-group")
    assert len(a) <= 63 and len(b) <= 63
    assert a != b
    assert a == child_name(long_pool, "vllm", "nvidia-h100-nvl-group")
    assert child_name("granite", "vllm", "amd") == "granite-vllm-amd"


def test_every_child_is_in_the_pool_namespace_labelled_and_uniquely_named(sample: Sample) -> None:
    pool = parse_manifest(sample("granite-3vendor.yaml"))
    objects = expected_objects(pool)
    keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys))
    assert sorted(k for k, _ in keys) == sorted(
        ["ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Service", "Deployment", "PodDisruptionBudget"]
        + ["ConfigMap", "Service", "Deployment", "PodDisruptionBudget"]  # Envoy
        + ["ServiceAccount", "NetworkPolicy"]
        + ["Service", "Deployment", "PodDisruptionBudget"] * 3
    )
    for obj in objects:
        assert obj["metadata"]["namespace"] == "inference"
        labels = obj["metadata"]["labels"]
        assert labels["heteropool.dev/pool"] == "granite"
        assert labels["app.kubernetes.io/managed-by"] == "heteropool-operator"
        assert labels["app.kubernetes.io/part-of"] == "heteropool"
        assert len(obj["metadata"]["name"]) <= 63


def test_selectors_keep_vendor_groups_and_pools_apart(sample: Sample) -> None:
    first = sample("sim-pool.yaml")
    second = sample("sim-pool.yaml")
    second["metadata"]["name"] = "sim-two"
    deployments = [
        o
        for manifest in (first, second)
        for o in expected_objects(parse_manifest(manifest))
        if o["kind"] == "Deployment"
    ]
    for a in deployments:
        for b in deployments:
            selector = a["spec"]["selector"]["matchLabels"]
            assert _selects(selector, b["spec"]["template"]["metadata"]["labels"]) == (a is b), (
                a["metadata"]["name"],
                b["metadata"]["name"],
            )


def test_vllm_service_selects_exactly_its_group(sample: Sample) -> None:
    pool = parse_manifest(sample("granite-3vendor.yaml"))
    objects = expected_objects(pool)
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    for deployment in (o for o in objects if o["kind"] == "Deployment" and "-vllm-" in o["metadata"]["name"]):
        service = services[deployment["metadata"]["name"]]
        assert service["spec"]["clusterIP"] == "None"  # headless: the gateway routes per replica
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_roce_parts_appear_only_when_asked_for(sample: Sample) -> None:
    plain = expected_vllm_deployment(pool := parse_manifest(sample("nvidia-only.yaml")), pool.spec.vendors[0])
    assert "k8s.v1.cni.cncf.io/networks" not in plain["spec"]["template"]["metadata"]["annotations"]
    assert "add" not in _container(plain)["securityContext"]["capabilities"]
    assert not [n for n in _env(plain) if n.startswith("NCCL_")]
    assert not [r for r in _container(plain)["resources"]["limits"] if r.startswith("rdma/")]

    roce_pool = parse_manifest(sample("granite-3vendor.yaml"))
    roce = expected_vllm_deployment(roce_pool, roce_pool.spec.vendors[0])
    annotation = roce["spec"]["template"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]
    assert yaml.safe_load(annotation) == [{"name": "roce-nvidia", "interface": "net1"}]
    assert "IPC_LOCK" in _container(roce)["securityContext"]["capabilities"]["add"]
    assert _env(roce)["NCCL_IB_HCA"] == "mlx5_0" and _env(roce)["NCCL_IB_GID_INDEX"] == "3"
    assert _env(roce)["NCCL_SOCKET_IFNAME"] == "=net1"
    assert _container(roce)["resources"]["limits"]["rdma/rdma_shared_device_a"] == "1"


def test_roce_disabled_renders_nothing_of_it(sample: Sample) -> None:
    manifest = sample("granite-3vendor.yaml")
    manifest["spec"]["vendors"][0]["roce"]["enabled"] = False
    pool = parse_manifest(manifest)
    deployment = expected_vllm_deployment(pool, pool.spec.vendors[0])
    assert "k8s.v1.cni.cncf.io/networks" not in deployment["spec"]["template"]["metadata"]["annotations"]
    assert not [n for n in _env(deployment) if n.startswith("NCCL_")]


def test_gaudi_roce_uses_hccl_socket_settings(sample: Sample) -> None:
    manifest = sample("gaudi-only.yaml")
    manifest["spec"]["vendors"][0]["roce"] = {"networks": [{"name": "scaleout", "interface": "net2"}]}
    pool = parse_manifest(manifest)
    env = _env(expected_vllm_deployment(pool, pool.spec.vendors[0]))
    assert env["HCCL_SOCKET_IFNAME"] == "=net2" and env["GLOO_SOCKET_IFNAME"] == "net2"
    assert not [n for n in env if n.startswith("NCCL_")]


def test_user_env_overrides_vendor_env_by_name(sample: Sample) -> None:
    manifest = sample("gaudi-only.yaml")
    manifest["spec"]["vendors"][0]["env"] = [{"name": "PT_HPU_ENABLE_LAZY_COLLECTIVES", "value": "false"}]
    pool = parse_manifest(manifest)
    env = expected_vllm_deployment(pool, pool.spec.vendors[0])["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e for e in env if e["name"] == "PT_HPU_ENABLE_LAZY_COLLECTIVES"] == [
        {"name": "PT_HPU_ENABLE_LAZY_COLLECTIVES", "value": "false"}
    ]


@pytest.mark.parametrize(
    ("sample_name", "override", "expected"),
    [
        ("nvidia-only.yaml", None, "16"),
        ("amd-only.yaml", None, "16"),
        ("gaudi-only.yaml", None, "128"),
        ("nvidia-only.yaml", 32, "32"),
    ],
)
def test_block_size_defaults_per_vendor(sample: Sample, sample_name: str, override: int | None, expected: str) -> None:
    manifest = sample(sample_name)
    manifest["spec"]["vendors"][0].pop("vllm", None)
    if override:
        manifest["spec"]["vendors"][0]["vllm"] = {"blockSize": override}
    pool = parse_manifest(manifest)
    args = _container(expected_vllm_deployment(pool, pool.spec.vendors[0]))["args"]
    assert args[args.index("--block-size") + 1] == expected


def test_startup_budget_is_per_vendor_and_overridable(sample: Sample) -> None:
    thresholds = {}
    for name in ("nvidia-only.yaml", "amd-only.yaml", "gaudi-only.yaml"):
        manifest = sample(name)
        manifest["spec"]["vendors"][0].pop("startupTimeout", None)
        pool = parse_manifest(manifest)
        thresholds[name] = _container(expected_vllm_deployment(pool, pool.spec.vendors[0]))["startupProbe"][
            "failureThreshold"
        ]
    assert thresholds["gaudi-only.yaml"] > thresholds["amd-only.yaml"] > thresholds["nvidia-only.yaml"]
    pool = parse_manifest(sample("gaudi-only.yaml"))  # startupTimeout: 3h, probed every 10 s
    assert _container(expected_vllm_deployment(pool, pool.spec.vendors[0]))["startupProbe"]["failureThreshold"] == 1080


def test_probes_hit_health_on_the_vllm_port(sample: Sample) -> None:
    pool = parse_manifest(sample("amd-only.yaml"))
    container = _container(expected_vllm_deployment(pool, pool.spec.vendors[0]))
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}


def test_model_options_reach_vllm_args(sample: Sample) -> None:
    manifest = sample("nvidia-only.yaml")
    manifest["spec"]["model"].update({"revision": "v1.2", "extraArgs": ["--enable-chunked-prefill"]})
    manifest["spec"]["vendors"][0]["vllm"] = {"enablePrefixCaching": False, "maxNumSeqs": 128}
    pool = parse_manifest(manifest)
    args = _container(expected_vllm_deployment(pool, pool.spec.vendors[0]))["args"]
    assert args[0] == "ibm-granite/granite-4.1-8b"
    assert args[args.index("--revision") + 1] == "v1.2"
    assert args[args.index("--max-num-seqs") + 1] == "128"
    assert args[args.index("--served-model-name") + 1] == "granite-4.1-8b"
    assert "--no-enable-prefix-caching" in args and args[-1] == "--enable-chunked-prefill"


def test_data_plane_has_least_privilege_and_locked_down_pods(sample: Sample) -> None:
    pool = parse_manifest(sample("granite-3vendor.yaml"))
    role = expected_picker_role(pool)
    verbs = {
        (rule["apiGroups"][0], rule["resources"][0]): set(rule["verbs"])
        for rule in role["rules"]
        if "resourceNames" not in rule or rule["resources"] != ["leases"]
    }
    reads = {k for k, v in verbs.items() if v == {"get", "list", "watch"}}
    assert reads == {("discovery.k8s.io", "endpointslices"), ("", "configmaps")}
    configmap_rule = next(r for r in role["rules"] if r["resources"] == ["configmaps"])
    assert configmap_rule["resourceNames"] == ["granite-routing"]
    # writes: only its own Lease (update by name; create cannot be limited by name)
    lease_rules = [r for r in role["rules"] if r["resources"] == ["leases"]]
    assert {frozenset(r["verbs"]) for r in lease_rules} == {frozenset({"get", "update"}), frozenset({"create"})}
    assert next(r for r in lease_rules if "update" in r["verbs"])["resourceNames"] == ["granite-epp"]
    assert all(r["apiGroups"] == ["coordination.k8s.io"] for r in lease_rules)

    for deployment in (expected_picker_deployment(pool), expected_gateway_deployment(pool)):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        security = pod["containers"][0]["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["capabilities"] == {"drop": ["ALL"]}
    envoy_pod = expected_gateway_deployment(pool)["spec"]["template"]["spec"]
    assert envoy_pod["automountServiceAccountToken"] is False  # Envoy never talks to the API server


def test_envoy_routes_to_every_group_and_asks_the_picker(sample: Sample) -> None:
    pool = parse_manifest(sample("granite-3vendor.yaml"))
    config = envoy_bootstrap_for(pool)
    assert [host for host, _ in config.endpoints] == [
        f"granite-vllm-{g}.inference.svc.cluster.local" for g in ("nvidia", "amd", "intel-gaudi")
    ]
    assert (config.epp_host, config.epp_port) == ("granite-epp.inference.svc.cluster.local", 9002)
    assert config.fail_open is False and config.request_body_mode == "BUFFERED"
    bootstrap = yaml.safe_load(expected_envoy_configmap(pool)["data"]["envoy.yaml"])
    assert bootstrap["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    # the Envoy pods roll when the bootstrap changes
    before = expected_gateway_deployment(pool)["spec"]["template"]["metadata"]["annotations"]
    manifest = sample("granite-3vendor.yaml")
    manifest["spec"]["gateway"]["picker"] = {"failureMode": "FailOpen"}
    changed = parse_manifest(manifest)
    after = expected_gateway_deployment(changed)["spec"]["template"]["metadata"]["annotations"]
    assert before["heteropool.dev/config-checksum"] != after["heteropool.dev/config-checksum"]


def test_routing_configmap_holds_initial_weights_from_capacity_priors(sample: Sample) -> None:
    pool = parse_manifest(sample("granite-3vendor.yaml"))
    config = RoutingConfig.model_validate(yaml.safe_load(expected_routing_configmap(pool)["data"][ROUTING_CONFIG_KEY]))
    assert config.model == "granite-4.1-8b" and config.policy == "heteropool"
    weights = {name: v.share for name, v in config.groups.items()}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    # 4 x 1600 vs 8 x 2100 vs 8 x 630 tokens/s
    assert weights["amd"] > weights["nvidia"] > weights["intel-gaudi"] > 0
    assert {name: v.block_size for name, v in config.groups.items()} == {"nvidia": 16, "amd": 16, "intel-gaudi": 128}


def test_static_weights_are_normalised_and_scaled_to_zero_groups_get_none(sample: Sample) -> None:
    manifest = sample("granite-3vendor.yaml")
    manifest["spec"]["weights"] = {"mode": "static", "static": {"nvidia": 2, "amd": 2, "intel-gaudi": 1}}
    manifest["spec"]["vendors"][2]["replicas"] = 0
    assert initial_shares(parse_manifest(manifest)) == {"nvidia": 0.5, "amd": 0.5, "intel-gaudi": 0.0}


def test_hf_token_comes_from_the_named_secret(sample: Sample) -> None:
    pool = parse_manifest(sample("sarvam-nvidia-amd.yaml"))
    env = _env(expected_vllm_deployment(pool, pool.spec.vendors[0]))
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}


def test_image_overrides_and_pull_secrets(sample: Sample) -> None:
    manifest = sample("nvidia-only.yaml")
    manifest["spec"]["vendors"][0].update(
        {"image": "registry.local/vllm:custom", "imagePullSecrets": ["regcred"], "imagePullPolicy": "Always"}
    )
    pool = parse_manifest(manifest)
    deployment = expected_vllm_deployment(pool, pool.spec.vendors[0])
    assert _container(deployment)["image"] == "registry.local/vllm:custom"
    assert _container(deployment)["imagePullPolicy"] == "Always"
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_hugepages_set_in_limits_are_requested_equally(sample: Sample) -> None:
    manifest = sample("gaudi-only.yaml")
    manifest["spec"]["vendors"][0]["resources"] = {"limits": {"hugepages-2Mi": "20000Mi"}}
    pool = parse_manifest(manifest)
    resources = _container(expected_vllm_deployment(pool, pool.spec.vendors[0]))["resources"]
    assert resources["requests"]["hugepages-2Mi"] == resources["limits"]["hugepages-2Mi"] == "20000Mi"


def test_render_command_prints_multi_document_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from heteropool.cli import main

    sample_path = Path(__file__).resolve().parents[3] / "samples" / "granite-3vendor.yaml"
    assert main(["render", str(sample_path)]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in documents].count("Deployment") == 5


def test_rendered_entry_points_are_accepted_by_our_own_commands(sample: Sample) -> None:
    """The picker and sim pods run `heteropool ...`: their rendered arguments must parse."""
    from heteropool.cli import build_parser

    pool = parse_manifest(sample("sim-pool.yaml"))
    picker = _container(expected_picker_deployment(pool))
    parsed = build_parser("epp").parse_args(picker["args"])
    assert (parsed.kube_pool, parsed.kube_configmap, parsed.port) == ("sim", "sim-routing", 9002)
    for group in pool.spec.vendors:
        replica = _container(expected_vllm_deployment(pool, group))
        assert replica["command"] == ["heteropool", "sim"]
        parsed = build_parser("sim").parse_args(["sim", *replica["args"]])
        assert parsed.profile == group.accelerator and parsed.port == 8000


def test_simulator_replicas_get_every_engine_flag_and_honour_it(sample: Sample) -> None:
    """Published flags reach `heteropool sim` as they reach vLLM, and the simulator accepts them."""
    from heteropool.cli import build_parser

    manifest = sample("sim-pool.yaml")
    manifest["spec"]["vendors"][2]["vllm"] = {
        "blockSize": 128,
        "maxNumSeqs": 256,
        "maxModelLen": 9216,
        "maxNumBatchedTokens": 16384,
        "gpuMemoryUtilization": 0.75,
        "dtype": "bfloat16",
        "kvCacheDtype": "fp8",
    }
    pool = parse_manifest(manifest)
    args = _container(expected_vllm_deployment(pool, pool.spec.vendors[2]))["args"]
    parsed = build_parser("sim").parse_args(["sim", *args])
    assert (
        parsed.max_num_seqs,
        parsed.max_model_len,
        parsed.max_num_batched_tokens,
        parsed.gpu_memory_utilization,
        parsed.dtype,
        parsed.kv_cache_dtype,
    ) == (256, 9216, 16384, 0.75, "bfloat16", "fp8")


def _label_selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_gateway_mode_renders_an_inference_pool_and_route_instead_of_envoy(sample: Sample) -> None:
    import json
    from pathlib import Path

    import jsonschema

    schemas = Path(__file__).resolve().parents[2] / "schemas"
    pool = parse_manifest(sample("granite-gateway-api.yaml"))
    objects = expected_objects(pool)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Deployment", "granite-gateway") not in kinds and ("ConfigMap", "granite-envoy") not in kinds
    (inference_pool,) = [o for o in objects if o["kind"] == "InferencePool"]
    (route,) = [o for o in objects if o["kind"] == "HTTPRoute"]
    jsonschema.validate(inference_pool, json.loads((schemas / "inferencepool.json").read_text()))
    jsonschema.validate(route, json.loads((schemas / "httproute.json").read_text()))
    # the pool selects exactly the vLLM pods of every group, and its picker is the rendered Service
    selector = inference_pool["spec"]["selector"]["matchLabels"]
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in objects if d["kind"] == "Deployment"
    }
    selected = {name for name, labels in pods.items() if _label_selector_matches(selector, labels)}
    assert selected == {"granite-vllm-nvidia", "granite-vllm-amd", "granite-vllm-intel-gaudi"}
    picker = inference_pool["spec"]["endpointPickerRef"]
    (service,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == picker["name"]]
    assert picker["port"]["number"] in {p["port"] for p in service["spec"]["ports"]}
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "granite"}
    ]
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "inference-gateway",
            "namespace": "gateway-system",
        }
    ]


@pytest.mark.parametrize("mode", ["SelfSigned", "Secret", "Disabled"])
def test_picker_tls_modes_reach_the_picker_envoy_and_probes(sample: Sample, mode: str) -> None:
    manifest = sample("granite-3vendor.yaml")
    manifest["spec"]["gateway"]["picker"] = {
        "tls": {"mode": mode, **({"secretName": "epp-tls"} if mode == "Secret" else {})}
    }
    pool = parse_manifest(manifest)
    deployment = expected_picker_deployment(pool)
    container = _container(deployment)
    envoy = envoy_bootstrap_for(pool)
    probe_port = container["readinessProbe"]["grpc"]["port"]
    if mode == "Disabled":
        assert "--tls-self-signed" not in container["args"] and "--tls-cert" not in container["args"]
        assert envoy.epp_tls is False and probe_port == 9002
        return
    assert envoy.epp_tls is True
    assert probe_port == 9003 and container["args"][container["args"].index("--health-port") + 1] == "9003"
    if mode == "Secret":
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert volumes == [{"name": "tls", "secret": {"secretName": "epp-tls"}}]
        assert "--tls-cert" in container["args"]
    else:
        assert "--tls-self-signed" in container["args"]


def test_secret_tls_without_a_secret_name_is_rejected_naming_the_field(
    check_schema: Callable[[dict[str, Any]], list[str]], sample: Sample
) -> None:
    manifest = sample("granite-3vendor.yaml")
    manifest["spec"]["gateway"]["picker"] = {"tls": {"mode": "Secret"}}
    assert any("tls.secretName is required" in e for e in check_schema(manifest))


def test_several_pickers_elect_one_through_a_lease_and_one_picker_needs_none(sample: Sample) -> None:
    manifest = sample("granite-3vendor.yaml")
    assert "--lease" not in _container(expected_picker_deployment(parse_manifest(manifest)))["args"]
    manifest["spec"]["gateway"]["picker"] = {"replicas": 2}
    args = _container(expected_picker_deployment(parse_manifest(manifest)))["args"]
    assert args[args.index("--lease") + 1] == "granite-epp"


def test_objectives_reach_the_routing_document_and_gateway_mode_pickers_watch_inference_objectives(
    sample: Sample,
) -> None:
    from heteropool.cli import build_parser

    def routing(pool: Pool) -> RoutingConfig:
        return RoutingConfig.model_validate(
            yaml.safe_load(expected_routing_configmap(pool)["data"][ROUTING_CONFIG_KEY])
        )

    standalone = parse_manifest(sample("granite-3vendor.yaml"))
    assert routing(standalone).objectives is None  # nothing declared: every request at priority 0
    assert "--kube-objectives" not in _container(expected_picker_deployment(standalone))["args"]
    assert not [
        r for r in expected_picker_role(standalone)["rules"] if "inference.networking.x-k8s.io" in r["apiGroups"]
    ]

    manifest = sample("granite-3vendor.yaml")
    manifest["spec"]["gateway"]["routing"].update(
        {"objectives": [{"name": "chat", "priority": 10}, {"name": "batch", "priority": -1}], "defaultPriority": -1}
    )
    assert routing(parse_manifest(manifest)).objectives == ObjectivesRouting(
        defaultPriority=-1, priorities={"chat": 10, "batch": -1}
    )

    gateway = parse_manifest(sample("granite-gateway-api.yaml"))
    assert routing(gateway).objectives == ObjectivesRouting(priorities={"chat": 10, "batch": -1})
    args = _container(expected_picker_deployment(gateway))["args"]
    assert build_parser("epp").parse_args(args).kube_objectives == "granite"  # the InferencePool's name
    (rule,) = [r for r in expected_picker_role(gateway)["rules"] if "inference.networking.x-k8s.io" in r["apiGroups"]]
    assert (rule["resources"], sorted(rule["verbs"])) == (["inferenceobjectives"], ["get", "list", "watch"])
