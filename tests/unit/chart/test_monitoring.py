"""The chart's monitoring objects: strict schemas for the prometheus-operator kinds, alerts that
query metrics the code exports, and the dashboard shipped for Grafana's sidecar."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from heteropool.render import expected_objects
from heteropool.semantics import parse_manifest
from heteropool.settings import RenderSettings
from heteropool_testing.helm import ALL_MONITORING

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "tests" / "schemas"
SOURCE = "\n".join(p.read_text() for p in (REPO / "operator").rglob("*.py"))
_METRIC = re.compile(r"\b(heteropool_[a-z0-9_]+|vllm:[a-z0-9_:]+)")


def schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind.lower()}.json").read_text())  # type: ignore[no-any-return]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PodMonitor", "PrometheusRule"])
def test_prometheus_operator_objects_pass_their_schema(render: Any, kind: str) -> None:
    jsonschema.validate(one(render(*ALL_MONITORING), kind), schema(kind))


def test_schemas_reject_a_misspelt_field(render: Any) -> None:
    rule = one(render(*ALL_MONITORING), "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["fro"] = "5m"
    with pytest.raises(jsonschema.ValidationError, match="fro"):
        jsonschema.validate(rule, schema("PrometheusRule"))


def test_alerts_cover_what_a_platform_team_pages_on(render: Any) -> None:
    rule = one(render(*ALL_MONITORING), "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "HeteroPoolNotReady",
        "HeteroPoolDegraded",
        "HeteroPoolVendorGroupDegraded",
        "HeteroPoolMetricsStale",
        "HeteroPoolTimeToFirstTokenHigh",
        "HeteroPoolPickerErrors",
    }
    for alert in alerts.values():
        expr = alert["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        assert alert["labels"]["severity"] in {"info", "warning", "critical"}
        assert "{{ $labels." in alert["annotations"]["summary"]  # Prometheus templates survive Helm
    assert "> 5" in alerts["HeteroPoolTimeToFirstTokenHigh"]["expr"]


def test_every_alerted_metric_is_exported(render: Any) -> None:
    rule = one(render(*ALL_MONITORING), "PrometheusRule")
    names = {m for g in rule["spec"]["groups"] for r in g["rules"] for m in _METRIC.findall(r["expr"])}
    assert names
    for name in names:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        candidates = {name, base, re.sub(r"_total$", "", base)}
        assert any(f'"{c}"' in SOURCE for c in candidates), f"{name} is not exported by operator/"


def test_dashboard_ships_as_a_configmap_for_grafanas_sidecar(render: Any) -> None:
    configmap = next(
        o for o in render(*ALL_MONITORING) if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-dashboard")
    )
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(configmap["data"]["heteropool.json"])
    assert shipped == json.loads((REPO / "charts" / "heteropool" / "dashboards" / "heteropool.json").read_text())
    moved = render(
        *ALL_MONITORING,
        "--set",
        "monitoring.grafanaDashboard.namespace=grafana",
        "--set",
        "monitoring.grafanaDashboard.annotations.grafana_folder=Inference",
    )
    configmap = next(o for o in moved if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-dashboard"))
    assert configmap["metadata"]["namespace"] == "grafana"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Inference"}


def test_monitoring_objects_are_off_by_default(render: Any) -> None:
    kinds = {o["kind"] for o in render()}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    assert not any(o["metadata"]["name"].endswith("-dashboard") for o in render() if o["kind"] == "ConfigMap")


def test_pod_monitor_labels_series_with_the_group_kedas_queries_select() -> None:
    pool = parse_manifest(
        {
            "apiVersion": "heteropool.dev/v1alpha1",
            "kind": "HeteroInferencePool",
            "metadata": {"name": "p"},
            "spec": {"model": {"name": "m"}, "vendors": [{"vendor": "sim", "autoscaling": {"maxReplicas": 3}}]},
        }
    )
    scaled = one(
        expected_objects(pool, settings=RenderSettings(keda_prometheus_url="http://prom:9090")), "ScaledObject"
    )
    jsonschema.validate(scaled, schema("ScaledObject"))
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]
    assert 'pool="p"' in query and 'group="sim"' in query


def test_pod_monitor_scrapes_each_component_where_its_metrics_are(render: Any) -> None:
    from heteropool.render import DATA_PLANE_COMPONENTS, expected_objects

    podmonitor = one(render(*ALL_MONITORING), "PodMonitor")
    (components,) = podmonitor["spec"]["selector"]["matchExpressions"]
    assert {"model-server", *DATA_PLANE_COMPONENTS} <= set(components["values"])
    kept = {}
    for endpoint in podmonitor["spec"]["podMetricsEndpoints"]:
        keep = [r for r in endpoint["relabelings"] if r.get("action") == "keep"]
        assert len(keep) == 1 and keep[0]["sourceLabels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
        kept[keep[0]["regex"]] = endpoint
        assert {"pool", "vendor", "group"} <= {r["targetLabel"] for r in endpoint["relabelings"] if "targetLabel" in r}
    assert set(kept) == {"model-server", *DATA_PLANE_COMPONENTS}  # every component exactly once
    # Each endpoint's port is one the rendered pods of that component declare.
    pool = parse_manifest(
        {
            "apiVersion": "heteropool.dev/v1alpha1",
            "kind": "HeteroInferencePool",
            "metadata": {"name": "p"},
            "spec": {"model": {"name": "m"}, "vendors": [{"vendor": "sim"}]},
        }
    )
    for deployment in (o for o in expected_objects(pool) if o["kind"] == "Deployment"):
        template = deployment["spec"]["template"]
        component = template["metadata"]["labels"]["app.kubernetes.io/component"]
        ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        assert kept[component]["port"] in ports, (component, ports)
