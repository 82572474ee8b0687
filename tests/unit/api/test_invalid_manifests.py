"""Bad pool manifests are rejected with a message that names the offending field.

Each case breaks a valid sample in one way. `schema` says whether the CRD rejects it at
admission (openAPIV3Schema + CEL); every case must also be rejected by `render`'s own parser,
which is what `heteropool render` and the operator run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from heteropool.cli import main
from heteropool.semantics import SpecError, parse_manifest


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[dict[str, Any]], None]
    field: str
    schema: bool
    schema_field: str | None = None  # where the schema reports it, when not the same place


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = obj
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        if value is _DELETE:
            del node[leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return mutate


_DELETE = object()
NV = "spec.vendors.0"  # the NVIDIA group of granite-3vendor.yaml
AMD = "spec.vendors.1"
GAUDI = "spec.vendors.2"

CASES = [
    Case("replicas-wrong-type", _set(f"{NV}.replicas", "four"), "spec.vendors[0].replicas", True),
    # Strict types: what the CRD rejects, the operator's parser rejects too (no silent coercion).
    Case("replicas-as-string", _set(f"{NV}.replicas", "8"), "spec.vendors[0].replicas", True),
    Case("max-model-len-as-string", _set("spec.model.maxModelLen", "16384"), "spec.model.maxModelLen", True),
    Case("replicas-as-bool", _set(f"{NV}.replicas", True), "spec.vendors[0].replicas", True),
    # Resource quantities follow Kubernetes' quantity grammar, at admission and in render.
    Case(
        "cpu-not-a-quantity",
        _set(f"{NV}.resources", {"requests": {"cpu": "lots"}}),
        "spec.vendors[0].resources.requests.cpu",
        True,
    ),
    Case(
        "memory-unit-typo",
        _set(f"{AMD}.resources", {"limits": {"memory": "64GB"}}),
        "spec.vendors[1].resources.limits.memory",
        True,
    ),
    Case("unknown-vendor", _set(f"{NV}.vendor", "nvidea"), "spec.vendors[0].vendor", True),
    Case("negative-replicas", _set(f"{NV}.replicas", -1), "spec.vendors[0].replicas", True),
    Case("huge-replicas", _set(f"{NV}.replicas", 100_000), "spec.vendors[0].replicas", True),
    Case("empty-vendor-list", _set("spec.vendors", []), "spec.vendors", True),
    Case("missing-model", _set("spec.model", _DELETE), "spec.model", True),
    Case("missing-model-name", _set("spec.model.name", _DELETE), "spec.model.name", True),
    Case("malformed-interval", _set("spec.weights.interval", "15 seconds"), "spec.weights.interval", True),
    Case("malformed-startup-timeout", _set(f"{GAUDI}.startupTimeout", "1d"), "spec.vendors[2].startupTimeout", True),
    Case(
        "duplicate-vendor-groups",
        lambda o: o["spec"]["vendors"].append(dict(o["spec"]["vendors"][0])),
        "spec.vendors[3].name",
        True,
        schema_field="spec.vendors",
    ),
    Case("name-too-long", _set("metadata.name", "g" * 64), "metadata.name", True),
    Case("name-not-dns", _set("metadata.name", "Granite_Pool"), "metadata.name", True),
    Case("roce-without-networks", _set(f"{NV}.roce.networks", []), "spec.vendors[0].roce.networks", True),
    Case("block-size-not-supported", _set(f"{GAUDI}.vllm.blockSize", 96), "spec.vendors[2].vllm.blockSize", True),
    Case(
        "memory-fraction-above-one",
        _set(f"{NV}.vllm.gpuMemoryUtilization", 1.5),
        "spec.vendors[0].vllm.gpuMemoryUtilization",
        True,
    ),
    Case("gateway-port-out-of-range", _set("spec.gateway.service.port", 70_000), "spec.gateway.service.port", True),
    Case("unknown-policy", _set("spec.gateway.routing.policy", "random"), "spec.gateway.routing.policy", True),
    Case(
        "objective-name-not-dns",
        _set("spec.gateway.routing.objectives", [{"name": "Chat!", "priority": 1}]),
        "spec.gateway.routing.objectives[0].name",
        True,
    ),
    Case(
        "objective-priority-as-string",
        _set("spec.gateway.routing.objectives", [{"name": "chat", "priority": "high"}]),
        "spec.gateway.routing.objectives[0].priority",
        True,
    ),
    Case(
        "duplicate-objectives",
        _set("spec.gateway.routing.objectives", [{"name": "chat", "priority": 1}, {"name": "chat", "priority": 2}]),
        # the apiserver refuses a list-map's duplicate keys; the offline schema check cannot see them
        "spec.gateway.routing.objectives[1].name",
        False,
    ),
    Case("static-mode-without-weights", _set("spec.weights.mode", "static"), "spec.weights.static", True),
    # Only the operator can judge these (the apiserver prunes unknown fields instead of failing).
    Case("misspelt-field", _set(f"{NV}.replica", 3), "spec.vendors[0].replica", False),
    Case(
        "rendered-flag-in-extra-args",
        _set(f"{AMD}.vllm.extraArgs", ["--block-size=32"]),
        "spec.vendors[1].vllm.extraArgs[0]",
        False,
    ),
    Case(
        "static-weight-for-absent-group",
        _set("spec.weights.static", {"google-tpu": 1.0}),
        "spec.weights.static[google-tpu]",
        False,
    ),
    Case("unknown-accelerator", _set(f"{NV}.accelerator", "h100nvl"), "spec.vendors[0].accelerator", False),
    Case(
        "device-visibility-env-on-amd",
        _set(f"{AMD}.env", [{"name": "HIP_VISIBLE_DEVICES", "value": "0"}]),
        "spec.vendors[1].env[0].name",
        False,
    ),
    Case(
        "nccl-settings-on-gaudi",
        _set(f"{GAUDI}.roce", {"networks": [{"name": "n", "interface": "net1"}], "nccl": {"ibHca": "mlx5_0"}}),
        "spec.vendors[2].roce.nccl",
        False,
    ),
    Case(
        "device-count-in-resources",
        _set(f"{NV}.resources", {"limits": {"nvidia.com/gpu": 2}}),
        "spec.vendors[0].resources.limits[nvidia.com/gpu]",
        False,
    ),
]


def test_the_table_covers_at_least_fifteen_manifests() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_render_rejects_and_names_the_field(case: Case, sample: Callable[[str], dict[str, Any]]) -> None:
    manifest = sample("granite-3vendor.yaml")
    case.mutate(manifest)
    with pytest.raises(SpecError) as raised:
        parse_manifest(manifest)
    assert raised.value.path == case.field, str(raised.value)
    assert str(raised.value).startswith(f"{case.field}: ")


@pytest.mark.parametrize("case", [c for c in CASES if c.schema], ids=[c.id for c in CASES if c.schema])
def test_crd_schema_rejects_at_admission(
    case: Case, sample: Callable[[str], dict[str, Any]], check_schema: Callable[[dict[str, Any]], list[str]]
) -> None:
    manifest = sample("granite-3vendor.yaml")
    case.mutate(manifest)
    errors = check_schema(manifest)
    assert any(e.startswith(case.schema_field or case.field) for e in errors), errors


def test_render_command_exits_non_zero_naming_the_field(
    tmp_path: Any, sample: Callable[[str], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    manifest = sample("granite-3vendor.yaml")
    manifest["spec"]["vendors"][1]["replicas"] = -3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(manifest))
    assert main(["render", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "spec.vendors[1].replicas" in captured.err and "greater than or equal to 0" in captured.err


def test_render_command_reports_unreadable_files(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "notyaml.yaml").write_text("spec: [unclosed")
    assert main(["render", str(tmp_path / "notyaml.yaml")]) == 1
    assert "not valid YAML" in capsys.readouterr().err
