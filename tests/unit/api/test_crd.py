"""The CRD: generated from the API models, checked in, structurally valid, with useful columns."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from heteropool.cli import main
from heteropool.crd import crd_manifest, crd_yaml

REPO = Path(__file__).resolve().parents[3]


def test_checked_in_crd_matches_the_generator() -> None:
    checked_in = (REPO / "crds" / "heteroinferencepools.yaml").read_text()
    assert checked_in == crd_yaml(), "crds/ is stale: run `make crd` (heteropool crd --write)"


def test_checked_in_configuration_reference_matches_the_models() -> None:
    from heteropool.apidocs import api_reference_markdown

    checked_in = (REPO / "docs" / "api-reference.md").read_text()
    assert checked_in == api_reference_markdown(), "docs/api-reference.md is stale: run `make crd`"


def test_configuration_reference_documents_every_vendor_field() -> None:
    from heteropool.apidocs import api_reference_markdown

    text = api_reference_markdown()
    for field in (
        "spec.vendors[].vendor",
        "spec.vendors[].roce.nccl.gidIndex",
        "spec.weights.interval",
        "spec.model.name",
    ):
        assert f"`{field}`" in text
    assert "| `spec.model.name` | string | required |" in text


def test_crd_command_prints_the_checked_in_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    assert capsys.readouterr().out == (REPO / "crds" / "heteroinferencepools.yaml").read_text()


@pytest.mark.parametrize("version", ["1.30", "1.34"])
def test_crd_passes_strict_kubernetes_validation(version: str) -> None:
    kubernetes_validate.validate(crd_manifest(), version, strict=True)


def test_crd_names_and_subresources() -> None:
    spec = crd_manifest()["spec"]
    assert spec["group"] == "heteropool.dev"
    assert spec["names"]["shortNames"] == ["hip"]
    assert spec["names"]["plural"] == "heteroinferencepools"
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}


def _structural_violations(node: Any, path: str = "") -> list[str]:
    """Rules of a structural schema that apiextensions enforces and jsonschema does not."""
    if not isinstance(node, dict):
        return []
    problems = []
    for key in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs", "const"):
        if key in node:
            problems.append(f"{path}: has {key}")
    typed = "type" in node or node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if not typed:
        problems.append(f"{path}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties together")
    if "exclusiveMinimum" in node and not isinstance(node["exclusiveMinimum"], bool):
        problems.append(f"{path}: numeric exclusiveMinimum")
    for name, sub in node.get("properties", {}).items():
        problems += _structural_violations(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += _structural_violations(node[key], f"{path}.{key}")
    return problems


def test_schema_is_structural() -> None:
    schema = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _structural_violations(schema) == []


def test_status_stays_open_for_operator_bookkeeping() -> None:
    status = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True
    assert {"observedGeneration", "conditions", "vendors"} <= set(status["properties"])


def _jsonpath(obj: Any, path: str) -> Any:
    """The kubectl JSONPath subset printer columns use: .a.b and [?(@.k=="v")]."""
    for step in re.findall(r'\.(\w+)|\[\?\(@\.(\w+)=="([^"]*)"\)\]', path):
        field, filter_key, filter_value = step
        if field:
            obj = obj.get(field) if isinstance(obj, dict) else None
        else:
            obj = next((x for x in obj or [] if x.get(filter_key) == filter_value), None)
        if obj is None:
            return None
    return obj


def test_printer_columns_show_a_ready_pool() -> None:
    pool = yaml.safe_load((REPO / "samples" / "granite-3vendor.yaml").read_text())
    pool["metadata"]["creationTimestamp"] = "2026-11-27T10:00:00Z"
    pool["status"] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllReplicasReady",
                "lastTransitionTime": "2026-11-27T10:05:00Z",
            },
            {
                "type": "Degraded",
                "status": "False",
                "reason": "AsExpected",
                "lastTransitionTime": "2026-11-27T10:05:00Z",
            },
        ],
        "vendorSummary": "nvidia,amd,intel-gaudi",
        "replicas": "20/20",
        "weightSummary": "nvidia=0.46,amd=0.43,intel-gaudi=0.11",
        "throughputTokensPerS": 31000,
        "gateway": {"readyReplicas": 2, "desiredReplicas": 2},
    }
    columns = crd_manifest()["spec"]["versions"][0]["additionalPrinterColumns"]
    shown = {c["name"]: _jsonpath(pool, c["jsonPath"]) for c in columns}
    assert shown == {
        "Ready": "True",
        "Vendors": "nvidia,amd,intel-gaudi",
        "Replicas": "20/20",
        "Weights": "nvidia=0.46,amd=0.43,intel-gaudi=0.11",
        "Age": "2026-11-27T10:00:00Z",
        "Reason": "AllReplicasReady",
        "Model": "ibm-granite/granite-4.1-8b",
        "Policy": "heteropool",
        "Tokens/s": 31000,
        "Gateway": 2,
    }
    default_columns = [c["name"] for c in columns if not c.get("priority")]
    assert default_columns == ["Ready", "Vendors", "Replicas", "Weights", "Age"]


def test_package_is_never_importable_as_operator() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import operator, heteropool; print(operator.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO / "tests",
    )
    assert "heteropool" not in result.stdout and "/operator/" not in result.stdout
