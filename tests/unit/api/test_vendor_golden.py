"""Golden tests: the vendor-specific parts of each vendor's vLLM pod, pinned so changes are visible.

A deliberate change is accepted by re-running with HETEROPOOL_UPDATE_GOLDEN=1 and reviewing the
diff of tests/unit/api/golden/.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from heteropool.render import expected_vllm_deployment
from heteropool.semantics import parse_manifest

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[2] / "samples"

# (golden name, sample, vendor group index)
VENDOR_CASES = [
    ("nvidia-roce", "granite-3vendor.yaml", 0),
    ("amd-roce", "granite-3vendor.yaml", 1),
    ("intel-gaudi", "granite-3vendor.yaml", 2),
    ("nvidia-tp2", "sarvam-nvidia-amd.yaml", 0),
    ("sim", "sim-pool.yaml", 2),
]


def vendor_specific_parts(deployment: dict[str, Any]) -> dict[str, Any]:
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return {
        "podAnnotations": deployment["spec"]["template"]["metadata"]["annotations"],
        "hostIPC": pod.get("hostIPC", False),
        "podSecurityContext": pod.get("securityContext"),
        "tolerations": pod.get("tolerations"),
        "image": container["image"],
        "command": container["command"],
        "args": container["args"],
        "env": container["env"],
        "resources": container["resources"],
        "securityContext": container.get("securityContext"),
        "volumes": pod["volumes"],
        "startupFailureThreshold": container["startupProbe"]["failureThreshold"],
    }


@pytest.mark.parametrize(("golden", "sample", "index"), VENDOR_CASES, ids=[c[0] for c in VENDOR_CASES])
def test_vendor_specific_parts_match_golden(golden: str, sample: str, index: int) -> None:
    pool = parse_manifest(yaml.safe_load((SAMPLES / sample).read_text()))
    actual = vendor_specific_parts(expected_vllm_deployment(pool, pool.spec.vendors[index]))
    path = HERE / "golden" / f"{golden}.yaml"
    if os.environ.get("HETEROPOOL_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(actual, sort_keys=False))
    assert actual == yaml.safe_load(path.read_text())
