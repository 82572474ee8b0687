"""The named routing policies as profiles (data), and `build_router`, the one factory.

`round-robin`: what a Kubernetes Service does. `least-request`: fewest in-flight requests.
`llm-d`: the upstream EPP defaults (approximate prefix 3, kv-cache-utilization 2, queue 2,
max-score). `heteropool` (default): one prefix index over all vendors credited in each
endpoint's own block size, capacity-normalised load with a bounded spill band, zero-weight
endpoints drained.

`parameters` (e.g. the routing ConfigMap's `parameters`) override plugin parameters by plugin
name or type, and scorer weights under `weights`::

    {"capacity-load-scorer": {"spillAbs": 32}, "weights": {"prefix-affinity-scorer": 2}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heteropool.scheduling.errors import ConfigError
from heteropool.scheduling.profile import PluginRef, ProfileRouter, ProfileSpec, build_profile
from heteropool.scheduling.registry import Registry, register_builtins
from heteropool.names import DEFAULT_POLICY, POLICY_NAMES, PolicyName

__all__ = ["DEFAULT_POLICY", "PROFILES", "build_router"]

PROFILES: dict[PolicyName, dict[str, Any]] = {  # one per name in heteropool.names (a test checks)
    "round-robin": {"picker": {"type": "round-robin-picker"}},
    "least-request": {
        "scorers": [{"type": "least-request-scorer", "weight": 1}],
        "picker": {"type": "max-score-picker"},
    },
    "llm-d": {
        "producers": [{"type": "approx-prefix-cache-producer"}],
        "scorers": [
            {"type": "prefix-cache-scorer", "weight": 3},
            {"type": "kv-cache-utilization-scorer", "weight": 2},
            {"type": "queue-scorer", "weight": 2},
        ],
        "picker": {"type": "max-score-picker"},
    },
    "heteropool": {
        "producers": [{"type": "block-prefix-producer"}],
        "filters": [{"type": "weight-filter"}],
        "scorers": [
            {"type": "prefix-affinity-scorer", "weight": 1},
            {"type": "capacity-load-scorer", "weight": 1},
            {"type": "expected-ttft-scorer", "weight": 0},
        ],
        "picker": {"type": "max-score-picker"},
    },
}


def _apply_parameters(name: str, spec: ProfileSpec, parameters: Mapping[str, Any]) -> ProfileSpec:
    refs: dict[str, tuple[str, int | None]] = {}
    for group in ("producers", "filters", "scorers"):
        for i, r in enumerate(getattr(spec, group)):
            refs[r.ref] = (group, i)
    refs[spec.picker.ref] = ("picker", None)
    groups: dict[str, list[PluginRef]] = {g: list(getattr(spec, g)) for g in ("producers", "filters", "scorers")}
    picker = spec.picker
    for key, value in parameters.items():
        if key == "weights":
            if not isinstance(value, Mapping):
                raise ConfigError("parameters.weights", "expected a mapping of scorer -> weight")
            for ref, weight in value.items():
                where = refs.get(ref)
                if where is None or where[0] != "scorers":
                    raise ConfigError(f"parameters.weights.{ref}", f"no scorer {ref!r} in policy {name!r}")
                if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
                    raise ConfigError(f"parameters.weights.{ref}", f"expected a number >= 0, got {weight!r}")
                i = where[1]
                assert i is not None
                groups["scorers"][i] = groups["scorers"][i].model_copy(update={"weight": float(weight)})
            continue
        where = refs.get(key)
        if where is None:
            raise ConfigError(
                f"parameters.{key}", f"no plugin {key!r} in policy {name!r} (has: {', '.join(sorted(refs))})"
            )
        if not isinstance(value, Mapping):
            raise ConfigError(f"parameters.{key}", "expected a mapping of parameter -> value")
        group, i = where
        if group == "picker":
            picker = picker.model_copy(update={"parameters": {**picker.parameters, **value}})
        else:
            assert i is not None
            old = groups[group][i]
            groups[group][i] = old.model_copy(update={"parameters": {**old.parameters, **value}})
    return ProfileSpec(picker=picker, **groups)


def build_router(name: str, *, seed: int = 0, parameters: Mapping[str, Any] | None = None) -> ProfileRouter:
    """Build a fresh router for policy `name` (no shared state between calls).

    Raises:
        ConfigError: unknown policy (path `policy`), unknown plugin or parameter
            (path `parameters.<plugin>.<parameter>` / `profiles.<name>...`).
    """
    if name not in PROFILES:
        raise ConfigError("policy", f"unknown policy {name!r}; expected one of {', '.join(POLICY_NAMES)}")
    spec = ProfileSpec.model_validate(PROFILES[name])
    if parameters:
        spec = _apply_parameters(name, spec, parameters)
    registry = register_builtins(Registry())
    try:
        return build_profile(registry, name, spec, seed=seed)
    except ConfigError as exc:
        if parameters:
            # a bad override surfaces as the plugin's path; say where it came from
            raise ConfigError(f"parameters -> {exc.path}", exc.problem) from None
        raise
