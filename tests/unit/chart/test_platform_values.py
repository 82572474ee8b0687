"""The chart's platform settings reach the operator's command line, and what the operator then
renders fits the chart: its NetworkPolicies admit the chart's operator pod."""

from __future__ import annotations

import argparse
from typing import Any

from heteropool.commands.run_operator import add_arguments, render_settings
from heteropool.render import expected_network_policy
from heteropool.semantics import parse_manifest
from heteropool_testing.helm import helm_set
from heteropool_testing.selectors_eval import admits

POOL = {
    "apiVersion": "heteropool.dev/v1alpha1",
    "kind": "HeteroInferencePool",
    "metadata": {"name": "p", "namespace": "team-a"},
    "spec": {"model": {"name": "m"}, "vendors": [{"vendor": "sim"}]},
}


def _operator(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Deployment")


def _settings(objects: list[dict[str, Any]]) -> Any:
    container = _operator(objects)["spec"]["template"]["spec"]["containers"][0]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(container["args"][1:])  # after the `operator` subcommand
    args.operator_namespace = "heteropool"  # what POD_NAMESPACE (downward API) gives in the release namespace
    return render_settings(args)


def test_rendered_network_policy_admits_the_charts_operator_pod(render: Any) -> None:
    objects = render()
    labels = _operator(objects)["spec"]["template"]["metadata"]["labels"]
    policy = expected_network_policy(parse_manifest(POOL), _settings(objects))
    assert admits(policy, policy_namespace="team-a", pod_namespace="heteropool", pod_labels=labels)
    assert not admits(policy, policy_namespace="team-a", pod_namespace="team-a", pod_labels=labels)


def test_operator_namespace_comes_from_the_downward_api(render: Any) -> None:
    env = _operator(render())["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in env


def test_platform_values_become_operator_flags(render: Any) -> None:
    objects = render(
        *helm_set(
            "image.repository=mirror.corp/heteropool/heteropool",
            "images.registry=mirror.corp",
            "images.overrides.nvidia=mirror.corp/vllm/vllm-openai@sha256:" + "a" * 64,
            "openshift=true",
            "networkPolicy.monitoringNamespaces={obs}",
            "autoscaling.keda.prometheusUrl=http://prom.obs:9090",
        )
    )
    settings = _settings(objects)
    assert (
        settings.image("heteropool", "ghcr.io/heteropool/heteropool:0.1.0") == "mirror.corp/heteropool/heteropool:0.1.0"
    )
    assert settings.image("nvidia", "vllm/vllm-openai:v0").endswith("@sha256:" + "a" * 64)
    assert settings.image("amd", "vllm/vllm-openai-rocm:v0") == "mirror.corp/vllm/vllm-openai-rocm:v0"
    assert settings.fixed_uid is False and settings.monitoring_namespaces == ("obs",)
    assert settings.keda_prometheus_url == "http://prom.obs:9090"
    security = _operator(objects)["spec"]["template"]["spec"]["securityContext"]
    assert "runAsUser" not in security and security["runAsNonRoot"] is True


def test_default_values_keep_the_fixed_uid_and_hpa(render: Any) -> None:
    settings = _settings(render())
    assert settings.fixed_uid is True and settings.keda_prometheus_url is None
    assert settings.monitoring_namespaces == ("monitoring",)


def test_every_image_component_can_be_overridden_from_the_chart(render: Any) -> None:
    from heteropool.settings import IMAGE_COMPONENTS

    settings = _settings(render(*helm_set(*(f"images.overrides.{c}=registry.local/{c}:1" for c in IMAGE_COMPONENTS))))
    for component in IMAGE_COMPONENTS:
        assert settings.image(component, "default:0") == f"registry.local/{component}:1"
