"""Every sample is a valid pool, and every object it renders is valid Kubernetes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from heteropool.render import expected_objects
from heteropool.semantics import parse_manifest

from .conftest import validate_rendered

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "samples").glob("*.yaml"))
SAMPLE_IDS = [p.name for p in SAMPLES]


def test_the_samples_the_docs_promise_exist() -> None:
    assert {"granite-3vendor.yaml", "sim-pool.yaml", "sarvam-nvidia-amd.yaml"} <= set(SAMPLE_IDS)
    assert {"nvidia-only.yaml", "amd-only.yaml", "gaudi-only.yaml"} <= set(SAMPLE_IDS)


@pytest.mark.parametrize("path", SAMPLES, ids=SAMPLE_IDS)
def test_sample_passes_the_crd_schema(path: Path, check_schema: Callable[[dict[str, Any]], list[str]]) -> None:
    assert check_schema(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("version", ["1.30", "1.34"])
@pytest.mark.parametrize("path", SAMPLES, ids=SAMPLE_IDS)
def test_rendered_objects_pass_strict_kubernetes_validation(path: Path, version: str) -> None:
    objects = expected_objects(parse_manifest(yaml.safe_load(path.read_text())))
    for obj in objects:
        validate_rendered(obj, version)


def test_three_vendor_sample_is_the_benchmark_pool() -> None:
    pool = parse_manifest(yaml.safe_load((SAMPLES[0].parent / "granite-3vendor.yaml").read_text()))
    shape = {(g.vendor, g.accelerator, g.replicas, g.roce is not None) for g in pool.spec.vendors}
    assert shape == {("nvidia", "h100-nvl", 4, True), ("amd", "mi325x", 8, True), ("intel-gaudi", "gaudi3", 8, False)}


def test_sim_sample_needs_no_accelerator() -> None:
    pool = parse_manifest(yaml.safe_load((SAMPLES[0].parent / "sim-pool.yaml").read_text()))
    for obj in expected_objects(pool):
        if obj["kind"] == "Deployment":
            for container in obj["spec"]["template"]["spec"]["containers"]:
                assert not [r for r in container["resources"].get("limits", {}) if "/" in r], obj["metadata"]["name"]
