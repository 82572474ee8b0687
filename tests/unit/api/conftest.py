"""Fixtures for the pool API tests: the checked-in CRD, the samples, and a CRD-schema checker.

The checker is what the apiserver would do at admission, offline: the openAPIV3Schema with
OpenAPI 3.0 semantics (jsonschema draft 4: boolean exclusiveMinimum) plus every CEL rule in
`x-kubernetes-validations`, evaluated with cel-python on the part of the object it guards.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "samples"


def _load_crd() -> dict[str, Any]:
    return yaml.safe_load((REPO / "crds" / "heteroinferencepools.yaml").read_text())


def _cel_errors(schema: dict[str, Any], value: Any, path: str, env: celpy.Environment) -> Iterator[str]:
    for rule in schema.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))
        if not bool(program.evaluate({"self": celpy.json_to_cel(value)})):
            where = f"{path}{rule.get('fieldPath', '')}"
            yield f"{where}: {rule['message']}" if where else rule["message"]
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                yield from _cel_errors(sub, value[key], f"{path}.{key}", env)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _cel_errors(schema["items"], item, f"{path}[{i}]", env)


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Admission errors for a HeteroInferencePool object, each prefixed by its field path."""
    schema = _load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft4Validator(schema)
    errors = []
    for error in validator.iter_errors(obj):
        parts = [str(p) if isinstance(p, str) else f"[{p}]" for p in error.absolute_path]
        if error.validator == "required":  # name the missing field, as the apiserver does
            parts.append(error.message.split("'")[1])
        errors.append(".".join(parts).replace(".[", "[") + f": {error.message}")
    if not errors:  # the apiserver runs CEL only on a structurally valid object
        errors = [e.lstrip(".") for e in _cel_errors(schema, obj, "", celpy.Environment())]
    return errors


@pytest.fixture
def crd() -> dict[str, Any]:
    return _load_crd()


@pytest.fixture
def check_schema() -> Callable[[dict[str, Any]], list[str]]:
    return schema_errors


def load_sample(name: str) -> dict[str, Any]:
    return yaml.safe_load((SAMPLES / name).read_text())


@pytest.fixture
def sample() -> Callable[[str], dict[str, Any]]:
    """Loads samples/<name> (a fresh copy each call, safe to mutate)."""
    return lambda name: copy.deepcopy(load_sample(name))


def sample_names() -> list[str]:
    return sorted(p.name for p in SAMPLES.glob("*.yaml"))


_THIRD_PARTY_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def validate_rendered(obj: dict[str, Any], version: str) -> None:
    """Strict validation of one rendered object: Kubernetes' own schemas for built-in kinds, the
    project's JSON schemas (tests/schemas) for third-party kinds such as InferencePool and HTTPRoute."""
    import json

    import jsonschema
    import kubernetes_validate

    own = _THIRD_PARTY_SCHEMAS / f"{obj['kind'].lower()}.json"
    if own.exists():
        jsonschema.validate(obj, json.loads(own.read_text()))
    else:
        kubernetes_validate.validate(obj, version, strict=True)
