"""The ArgoCD health check of HeteroInferencePool, run in Lua 5.1 against status fixtures:
Degraded=True -> Degraded with its message; Ready=True for the current generation -> Healthy;
everything else (no status, an older observedGeneration, Ready=False) -> Progressing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
HEALTH_DIR = REPO / "samples" / "argocd" / "resource_customizations" / "heteropool.dev" / "HeteroInferencePool"
CASES = yaml.safe_load((HEALTH_DIR / "health_test.yaml").read_text())["tests"]


def condition(type_: str, status: str, generation: int = 2, message: str = "", reason: str = "R") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": "2026-11-27T10:00:00Z",
    }


def make_pool(
    generation: int = 2, observed: int | None = 2, conditions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    pool: dict[str, Any] = {
        "apiVersion": "heteropool.dev/v1alpha1",
        "kind": "HeteroInferencePool",
        "metadata": {"name": "sim", "namespace": "default", "generation": generation},
        "spec": {"model": {"name": "m"}, "vendors": [{"vendor": "sim"}]},
    }
    if conditions is not None:
        pool["status"] = {"conditions": conditions}
        if observed is not None:
            pool["status"]["observedGeneration"] = observed
    return pool


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_argocd_format_cases(health_check: Any, case: dict[str, Any]) -> None:
    obj = yaml.safe_load((HEALTH_DIR / case["inputPath"]).read_text())
    assert health_check(obj) == case["healthStatus"]


@pytest.mark.parametrize(
    ("pool", "status", "message"),
    [
        (make_pool(conditions=[condition("Ready", "True", message="all ready")]), "Healthy", "all ready"),
        (
            make_pool(conditions=[condition("Ready", "True")] + [condition("Degraded", "True", message="bad field")]),
            "Degraded",
            "bad field",
        ),
        (make_pool(conditions=[condition("Degraded", "True", message="", reason="InvalidSpec")]), "Degraded", ""),
        (
            make_pool(observed=1, conditions=[condition("Degraded", "True", 1, message="old typo")]),
            "Degraded",
            "old typo",
        ),
        (make_pool(conditions=None), "Progressing", "Waiting for the heteropool operator to report status"),
        (make_pool(conditions=[]), "Progressing", "Waiting for the pool to become Ready"),
        (
            make_pool(observed=None, conditions=[condition("Ready", "True")]),
            "Progressing",
            "Waiting for the heteropool operator to observe generation 2",
        ),
        (
            make_pool(generation=3, observed=2, conditions=[condition("Ready", "True")]),
            "Progressing",
            "Waiting for the heteropool operator to observe generation 3",
        ),
        (
            make_pool(generation=3, observed=3, conditions=[condition("Ready", "True", generation=2, message="m")]),
            "Progressing",
            "m",
        ),
        (make_pool(conditions=[condition("Ready", "False", message="0/2 ready")]), "Progressing", "0/2 ready"),
        (make_pool(conditions=[condition("Ready", "Unknown", message="?")]), "Progressing", "?"),
        (
            make_pool(conditions=[condition("Degraded", "False"), condition("Ready", "True", message="ok")]),
            "Healthy",
            "ok",
        ),
    ],
    ids=[
        "ready",
        "degraded-wins-over-ready",
        "degraded-empty-message",
        "degraded-old-generation",
        "no-status",
        "no-conditions",
        "no-observed-generation",
        "stale-observed-generation",
        "stale-ready-condition",
        "not-ready",
        "ready-unknown",
        "degraded-false-ready",
    ],
)
def test_health_from_status(health_check: Any, pool: dict[str, Any], status: str, message: str) -> None:
    assert health_check(pool) == {"status": status, "message": message}


def test_script_does_not_mutate_its_input_or_need_the_string_library(health_check: Any) -> None:
    pool = make_pool(conditions=[condition("Ready", "True", message="x")])
    before = copy.deepcopy(pool)
    assert health_check(pool)["status"] == "Healthy"
    assert pool == before


def test_fixtures_are_valid_pools_for_the_crd() -> None:
    """The fixtures are objects the apiserver would accept, so the check is tested on real shapes."""
    crd = yaml.safe_load((REPO / "crds" / "heteroinferencepools.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft4Validator(schema)
    for case in CASES:
        obj = yaml.safe_load((HEALTH_DIR / case["inputPath"]).read_text())
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
        assert errors == [], case["inputPath"]


def test_sandbox_is_as_narrow_as_argocd(make_health_check: Any) -> None:
    """A check calling string.format would fail in ArgoCD (string library closed); so it does here."""
    check = make_health_check('hs = {}; hs.status = string.format("%s", "Healthy"); return hs')
    with pytest.raises(Exception, match="string"):
        check(make_pool(conditions=[]))
