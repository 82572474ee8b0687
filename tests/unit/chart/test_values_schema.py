"""values.schema.json: generated from values.yaml, closed to unknown keys, documenting every key."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

CHART = Path(__file__).resolve().parents[3] / "charts" / "heteropool"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.fixture
def values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def errors(validator: jsonschema.Draft7Validator, values: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]


def test_default_values_are_valid(validator: jsonschema.Draft7Validator, values: dict[str, Any]) -> None:
    assert errors(validator, values) == []


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("operater",), {"replicas": 1}, "'operater' was unexpected"),
        (("operator", "replicas"), 2, "'replicas' was unexpected"),
        (("crds", "keeep"), True, "'keeep' was unexpected"),
        (("monitoring", "podMonitor", "interval"), "often", "does not match"),
        (("operator", "metricsPort"), 70000, "is greater than the maximum"),
        (("operator", "verbose"), "yes", "is not of type 'boolean'"),
        (("image", "pullPolicy"), "Sometimes", "is not one of"),
    ],
    ids=["misspelt-top-level", "no-operator-replicas", "misspelt-nested", "pattern", "range", "type", "enum"],
)
def test_schema_rejects_bad_values(
    validator: jsonschema.Draft7Validator, values: dict[str, Any], path: tuple[str, ...], value: Any, message: str
) -> None:
    target = values
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    found = errors(validator, values)
    assert any(message in e for e in found), found


def test_free_form_maps_accept_any_keys(validator: jsonschema.Draft7Validator, values: dict[str, Any]) -> None:
    values["operator"]["podAnnotations"] = {"example.com/anything": "x"}
    values["operator"]["resources"]["requests"]["nvidia.com/gpu"] = 0
    values["commonLabels"] = {"team": "ml"}
    assert errors(validator, values) == []


def test_every_key_has_a_description(validator: jsonschema.Draft7Validator) -> None:
    def walk(schema: dict[str, Any], path: str) -> None:
        for key, sub in schema.get("properties", {}).items():
            if path.endswith(".resources"):
                continue
            assert sub.get("description"), f"{path}.{key} has no description"
            walk(sub, f"{path}.{key}")

    walk(validator.schema, "")


def test_undocumented_key_is_a_generator_error(generator: ModuleType) -> None:
    with pytest.raises(generator.ChartGenerationError, match=r"values.yaml:5: a.c has no comment above it"):
        generator.values_schema("# A.\na:\n  # B.\n  b: 1\n  c: 2\n")


def test_schema_markers_add_keywords(generator: ModuleType) -> None:
    schema = generator.values_schema('# Level.\n# @schema {"enum": ["x", "y"]}\nlevel: x\n')
    assert schema["properties"]["level"] == {"type": "string", "description": "Level.", "enum": ["x", "y"]}


def test_every_leaf_value_is_used_by_a_template(values: dict[str, Any]) -> None:
    """Dead values mislead (cert-manager's `helm-tool lint`): each leaf, or the map holding it, is read."""
    templates = "\n".join(p.read_text() for p in (CHART / "templates").iterdir())
    free_form = {"resources", "podAnnotations", "podLabels", "nodeSelector", "affinity", "labels", "annotations"}

    def leaves(node: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        if isinstance(node, dict) and node and path[-1:] and path[-1] in free_form:
            return [path]
        if isinstance(node, dict) and node:
            return [leaf for k, v in node.items() for leaf in leaves(v, path + (k,))]
        return [path]

    unused = [".".join(p) for p in leaves(values, ()) if f".Values.{'.'.join(p)}" not in templates]
    assert unused == []


def test_install_doc_names_only_existing_values(values: dict[str, Any]) -> None:
    """docs/install.md's values table stays true to values.yaml."""
    doc = (CHART.parents[1] / "docs" / "install.md").read_text()
    table = doc[doc.index("| Key | Default | Meaning |") :].split("\n\n", 1)[0]
    keys = [k for line in table.splitlines()[2:] for k in re.findall(r"`([a-zA-Z.]+)`", line.split("|")[1])]
    assert len(keys) >= 10
    for key in keys:
        node: Any = values
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"docs/install.md names {key}, not in values.yaml"
            node = node[part]
