"""The ArgoCD samples: an app-of-apps that syncs the CRD, then the operator, then pools, with the
health check installed through argocd-cm exactly as tested."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ARGOCD = REPO / "samples" / "argocd"
APPS = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((ARGOCD / "apps").glob("*.yaml"))}


def wave(obj: dict[str, Any]) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def test_argocd_cm_carries_the_tested_health_check_verbatim(health_script: str) -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"] == {
        **cm["metadata"],
        "name": "argocd-cm",
        "namespace": "argocd",
    }
    assert cm["data"]["resource.customizations.health.heteropool.dev_HeteroInferencePool"] == health_script


def test_application_health_check_reports_child_health(make_health_check: Any) -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    check = make_health_check(cm["data"]["resource.customizations.health.argoproj.io_Application"])
    app = {"status": {"health": {"status": "Degraded", "message": "pool sim: Secret missing"}}}
    assert check(app) == {"status": "Degraded", "message": "pool sim: Secret missing"}
    assert check({"metadata": {}})["status"] == "Progressing"


def test_waves_put_the_operator_before_pools() -> None:
    assert set(APPS) == {"heteropool-operator", "sim-pool", "granite-gateway-api"}  # both data-plane modes
    for pool in ("sim-pool", "granite-gateway-api"):
        assert wave(APPS["heteropool-operator"]) < wave(APPS[pool])


@pytest.mark.parametrize("name", sorted(APPS))
def test_applications_point_at_paths_in_this_repository(name: str) -> None:
    app = APPS[name]
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    source = app["spec"]["source"]
    path = REPO / source["path"]
    assert path.is_dir(), source["path"]
    if "directory" in source:
        assert (path / source["directory"]["include"]).is_file()
    assert "resources-finalizer.argocd.argoproj.io" in app["metadata"]["finalizers"]
    assert "Replace=true" not in app["spec"]["syncPolicy"].get("syncOptions", [])


def test_operator_application_installs_the_chart_with_kept_crds() -> None:
    source = APPS["heteropool-operator"]["spec"]["source"]
    assert source["path"] == "charts/heteropool"
    assert source["helm"]["valuesObject"]["crds"] == {"enabled": True, "keep": True}


def test_pool_application_tolerates_a_crd_from_another_application() -> None:
    app = APPS["sim-pool"]
    assert "SkipDryRunOnMissingResource=true" in app["spec"]["syncPolicy"]["syncOptions"]
    pool = yaml.safe_load((REPO / "samples" / app["spec"]["source"]["directory"]["include"]).read_text())
    assert pool["kind"] == "HeteroInferencePool"


def test_root_application_syncs_the_apps_folder() -> None:
    root = yaml.safe_load((ARGOCD / "root.yaml").read_text())
    assert root["spec"]["source"]["path"] == "samples/argocd/apps"


def test_operator_application_values_pass_the_chart_schema() -> None:
    schema = json.loads((REPO / "charts" / "heteropool" / "values.schema.json").read_text())
    jsonschema.validate(APPS["heteropool-operator"]["spec"]["source"]["helm"]["valuesObject"], schema)


def _argocd_ignore(expression: str, obj: dict[str, Any]) -> dict[str, Any]:
    """What ArgoCD does with a jqPathExpression: evaluate `del(<expression>)` on the live object."""
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("no jq binary on PATH (apt-get install jq)")
    out = subprocess.run(
        [jq, "-c", f"del({expression})"], input=json.dumps(obj), capture_output=True, text=True, timeout=10
    )
    assert out.returncode == 0, f"ArgoCD would reject the expression: {out.stderr}"
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_ignore_differences_jq_rule_drops_only_kopf_annotations() -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    rule = yaml.safe_load(cm["data"]["resource.customizations.ignoreDifferences.heteropool.dev_HeteroInferencePool"])
    assert set(rule) == {"jqPathExpressions"}  # no finalizer pointer: the operator writes none
    (expression,) = rule["jqPathExpressions"]
    annotated = {"metadata": {"name": "p", "annotations": {"kopf.zalando.org/last-handled": "{}", "team": "ml"}}}
    assert _argocd_ignore(expression, annotated) == {"metadata": {"name": "p", "annotations": {"team": "ml"}}}
    bare = {"metadata": {"name": "p"}}
    assert _argocd_ignore(expression, bare) == bare


def test_samples_no_longer_mention_a_pool_finalizer() -> None:
    for path in ARGOCD.rglob("*.yaml"):
        text = path.read_text()
        assert "heteropool.dev/finalizer" not in text and "/metadata/finalizers" not in text, path
        assert "pool's finalizer" not in text and "its finalizer" not in text, path
