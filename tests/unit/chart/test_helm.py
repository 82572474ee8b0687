"""The chart through the real helm binary: lint, template in each mode, strict Kubernetes validation,
pod hardening, least-privilege RBAC, and the values combinations it refuses."""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from heteropool import cli
from heteropool.commands import run_operator
from heteropool.vendors import HETEROPOOL_IMAGE
from heteropool_testing.helm import ALL_MONITORING, helm_set

REPO_ROOT = Path(__file__).resolve().parents[3]
REPO_CHART = "charts/heteropool"
RunHelm = Callable[..., subprocess.CompletedProcess[str]]

MODES = {
    "defaults": (),
    "namespaced": helm_set("operator.watchNamespaces={team-a,team-b}"),
    "no-crds": helm_set("crds.enabled=false"),
    "monitors": ALL_MONITORING,
    "openshift-mirror": helm_set("openshift=true", "images.registry=mirror.corp", "images.overrides.nvidia=n:1"),
    "no-rbac-own-sa": helm_set("rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=ops"),
}
PROMETHEUS_OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}  # tests/schemas: test_monitoring.py


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def rules_by_resource(rules: list[dict[str, Any]]) -> dict[str, set[str]]:
    """{"apps/deployments": {"get", ...}, "/pods": {...}} from RBAC rules."""
    out: dict[str, set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault(f"{group}/{resource}", set()).update(rule["verbs"])
    return out


NAMESPACED_NEEDS = {
    "heteropool.dev/heteroinferencepools": {"get", "list", "watch", "patch"},
    "heteropool.dev/heteroinferencepools/status": {"get", "patch"},
    "apps/deployments": {"get", "list", "watch", "create", "patch", "delete"},
    "/services": {"get", "list", "watch", "create", "patch", "delete"},
    "/configmaps": {"get", "list", "watch", "create", "patch", "delete"},
    "/serviceaccounts": {"get", "list", "watch", "create", "patch", "delete"},
    "rbac.authorization.k8s.io/roles": {"get", "list", "watch", "create", "patch", "delete"},
    "rbac.authorization.k8s.io/rolebindings": {"get", "list", "watch", "create", "patch", "delete"},
    "policy/poddisruptionbudgets": {"get", "list", "watch", "create", "patch", "delete"},
    "networking.k8s.io/networkpolicies": {"get", "list", "watch", "create", "patch", "delete"},
    "autoscaling/horizontalpodautoscalers": {"get", "list", "watch", "create", "patch", "delete"},
    "keda.sh/scaledobjects": {"get", "list", "watch", "create", "patch", "delete"},
    "inference.networking.k8s.io/inferencepools": {"get", "list", "watch", "create", "patch", "delete"},
    "coordination.k8s.io/leases": {"get", "create", "update"},
    "gateway.networking.k8s.io/httproutes": {"get", "list", "watch", "create", "patch", "delete"},
    "inference.networking.x-k8s.io/inferenceobjectives": {"get", "list", "watch"},
    "/secrets": {"get"},
    "k8s.cni.cncf.io/network-attachment-definitions": {"get"},
    "discovery.k8s.io/endpointslices": {"get", "list", "watch"},
    "/pods": {"get", "list", "watch"},
    "/events": {"create", "patch"},
    "events.k8s.io/events": {"create", "patch"},
}
CRD_DISCOVERY = {"apiextensions.k8s.io/customresourcedefinitions": {"list", "watch"}}
NAMESPACES = {"/namespaces": {"list", "watch"}}


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
def test_helm_lint_passes_in_every_mode(run_helm: RunHelm, mode: tuple[str, ...]) -> None:
    out = run_helm("lint", "--strict", REPO_CHART, *mode)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("version", ["1.30", "1.34"])
def test_every_templated_object_passes_strict_validation(render: Any, version: str) -> None:
    """Every object of every mode (each distinct object once) against the strict built-in schemas."""
    distinct = {json.dumps(o, sort_keys=True): o for mode in MODES.values() for o in render(*mode)}
    assert len(distinct) > len(render())
    for obj in distinct.values():
        if obj["kind"] in PROMETHEUS_OPERATOR_KINDS:
            continue  # prometheus-operator CRDs: shape checked in test_monitors_have_the_prometheus_operator_shape
        kubernetes_validate.validate(obj, version, strict=True)


def test_defaults_render_the_operator_rbac_and_crd(render: Any) -> None:
    kinds = sorted(o["kind"] for o in render())
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]


def test_operator_runs_standalone_as_one_replica_replaced_not_rolled(render: Any) -> None:
    deployment = one(render(), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = operator_container(render())
    assert container["command"] == ["heteropool"]
    assert container["args"][:2] == ["operator", "--standalone"]
    assert "--all-namespaces" in container["args"]
    assert "--log-format=json" in container["args"]


def test_operator_pod_is_hardened(render: Any) -> None:
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = pod["containers"][0]["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "hostNetwork" not in pod and "hostIPC" not in pod


def test_operator_requests_resources_and_probes_healthz(render: Any) -> None:
    container = operator_container(render())
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert container["resources"]["limits"]["memory"]
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["port"] == "healthz" and ports["healthz"] == 8080
    assert "--liveness-port=8080" in container["args"] and "--metrics-port=9090" in container["args"]


def test_image_defaults_to_what_the_operator_renders_for_its_pods(render: Any) -> None:
    assert operator_container(render())["image"] == HETEROPOOL_IMAGE


def test_image_digest_wins_over_the_tag(render: Any) -> None:
    digest = "sha256:" + "ab" * 32
    container = operator_container(render(*helm_set(f"image.digest={digest}", "image.tag=9.9")))
    assert container["image"] == f"ghcr.io/heteropool/heteropool@{digest}"


def test_clusterwide_rbac_holds_exactly_what_the_operator_needs(render: Any) -> None:
    objects = render()
    role = one(objects, "ClusterRole")
    assert rules_by_resource(role["rules"]) == NAMESPACED_NEEDS | CRD_DISCOVERY | NAMESPACES
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = one(objects, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "heteropool"}
    ]
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")


def test_namespaced_mode_uses_roles_and_keeps_only_crd_discovery_cluster_wide(render: Any) -> None:
    objects = render(*MODES["namespaced"])
    assert rules_by_resource(one(objects, "ClusterRole")["rules"]) == CRD_DISCOVERY
    roles = {r["metadata"]["namespace"]: r for r in by_kind(objects, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in by_kind(objects, "RoleBinding")}
    assert set(roles) == set(bindings) == {"team-a", "team-b"}
    for namespace, role in roles.items():
        assert rules_by_resource(role["rules"]) == NAMESPACED_NEEDS
        assert bindings[namespace]["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
    args = operator_container(objects)["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args and "--all-namespaces" not in args


@pytest.mark.parametrize("sample", ["sim-pool.yaml", "granite-3vendor.yaml"])
def test_operator_holds_every_permission_it_grants_gateways(
    render: Any, sample: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """RBAC escalation check: the API server refuses a Role granting more than its creator holds."""
    assert cli.main(["render", str(REPO_ROOT / "samples" / sample)]) == 0
    granted = [o for o in yaml.safe_load_all(capsys.readouterr().out) if o and o["kind"] == "Role"]
    assert granted
    held = rules_by_resource(one(render(), "ClusterRole")["rules"])
    for role in granted:
        for resource, verbs in rules_by_resource(role["rules"]).items():
            assert verbs <= held.get(resource, set()), f"{role['metadata']['name']} grants {resource} {verbs}"


def test_crd_is_kept_on_uninstall_by_default_and_can_be_dropped(render: Any) -> None:
    crd = one(render(), "CustomResourceDefinition")
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    crd = one(render("--set", "crds.keep=false"), "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in crd["metadata"]["annotations"]
    assert not by_kind(render(*MODES["no-crds"]), "CustomResourceDefinition")


def test_argocd_sync_waves_order_crd_before_operator(render: Any) -> None:
    waves = {o["kind"]: int(o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for o in render()}
    assert waves["CustomResourceDefinition"] < waves["Deployment"] < 0
    assert waves["ServiceAccount"] == waves["ClusterRole"] == waves["Deployment"]


def test_monitors_are_off_by_default() -> None:
    values = yaml.safe_load((REPO_ROOT / REPO_CHART / "values.yaml").read_text())
    assert values["monitoring"]["serviceMonitor"]["enabled"] is False
    assert values["monitoring"]["podMonitor"]["enabled"] is False


def test_monitors_have_the_prometheus_operator_shape(render: Any) -> None:
    objects = render(*MODES["monitors"])
    service = one(objects, "Service")
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    labels = service["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True  # the weight metrics' own namespace label
    pods = one(objects, "PodMonitor")
    assert pods["apiVersion"] == "monitoring.coreos.com/v1"
    assert pods["spec"]["namespaceSelector"] == {"any": True}
    endpoint = pods["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert {r.get("targetLabel") for r in endpoint["relabelings"]} >= {"pool", "vendor"}
    namespaced = render(*MODES["namespaced"], *MODES["monitors"])
    assert one(namespaced, "PodMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["team-a", "team-b"]}


def test_misspelt_value_fails_helm_template(run_helm: RunHelm) -> None:
    out = run_helm("template", "t", REPO_CHART, "--set", "operater.replicas=1")
    assert out.returncode != 0
    assert "operater" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "operator.logFormat=xml"), "logFormat"),
        (("--set", "operator.watchNamespaces={Bad_NS}"), "watchNamespaces"),
        (("--set", "image.pullPolicy=Sometimes"), "pullPolicy"),
        (("--set", "serviceAccount.create=false"), "serviceAccount.name is required"),
        (
            ("--set", "metrics.service.enabled=false", "--set", "monitoring.serviceMonitor.enabled=true"),
            "monitoring.serviceMonitor.enabled needs metrics.service.enabled",
        ),
        (("--set", "operator.metricsPort=8080"), "must differ"),
    ],
    ids=["enum", "namespace-pattern", "pull-policy", "sa-name-required", "monitor-without-service", "port-clash"],
)
def test_bad_values_fail_naming_the_value(run_helm: RunHelm, args: tuple[str, ...], message: str) -> None:
    out = run_helm("template", "t", REPO_CHART, *args)
    assert out.returncode != 0
    assert message in out.stderr


def test_notes_render(run_helm: RunHelm) -> None:
    out = run_helm("install", "t", REPO_CHART, "--dry-run=client", "--namespace", "heteropool")
    assert out.returncode == 0, out.stderr
    assert "kubectl wait --for=condition=Ready hip/sim" in out.stdout


@pytest.mark.parametrize(
    "mode",
    [(), MODES["namespaced"], helm_set("operator.verbose=true", "operator.logFormat=text")],
    ids=["defaults", "namespaced", "verbose-text"],
)
def test_operator_arguments_parse_with_the_operator_command(render: Any, mode: tuple[str, ...]) -> None:
    """Contract: what the chart passes is what `heteropool operator` accepts, with the meaning intended."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    run_operator.add_arguments(parser)
    args = operator_container(render(*mode))["args"]
    assert args[0] == "operator"
    parsed = parser.parse_args(args[1:])
    container = operator_container(render(*mode))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert parsed.standalone is True
    assert (parsed.metrics_port, parsed.liveness_port) == (ports["metrics"], ports["healthz"])
    assert parsed.namespace == (["team-a", "team-b"] if mode == MODES["namespaced"] else [])


def test_pod_labels_include_the_selector_and_extra_pod_labels(render: Any) -> None:
    deployment = one(render("--set", "operator.podLabels.team=ml"), "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert labels["app.kubernetes.io/part-of"] == "heteropool" and labels["team"] == "ml"
