"""Pools stored under the previous schema (the v0.1.0 samples, as users applied them) still validate
under today's stricter types and quantity grammar, and still render the same vLLM groups."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from heteropool.render import expected_objects
from heteropool.semantics import parse_manifest

PREVIOUS = sorted((Path(__file__).resolve().parent / "previous").glob("*.yaml"))


@pytest.mark.parametrize("path", PREVIOUS, ids=[p.name for p in PREVIOUS])
def test_a_pool_stored_by_the_previous_release_validates_and_means_the_same(
    path: Path, check_schema: Callable[[dict[str, Any]], list[str]]
) -> None:
    manifest = yaml.safe_load(path.read_text())
    assert check_schema(manifest) == []
    pool = parse_manifest(manifest)
    deployments = {
        o["metadata"]["labels"]["heteropool.dev/group"]: o
        for o in expected_objects(pool)
        if o["kind"] == "Deployment" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "model-server"
    }
    for group in manifest["spec"]["vendors"]:
        rendered = deployments[group.get("name", group["vendor"])]
        assert rendered["spec"].get("replicas") == group.get("replicas", 1)
        args = rendered["spec"]["template"]["spec"]["containers"][0]["args"]
        block = (group.get("vllm") or {}).get("blockSize")
        if block is not None:
            assert args[args.index("--block-size") + 1] == str(block)
