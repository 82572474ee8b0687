"""The named routing policies as profiles (data), and `build_router`, the one factory.

`round-robin`: what a Kubernetes Service does. `least-request`: fewest in-flight requests.
`llm-d`: the upstream EPP defaults (approximate prefix 3, kv-cache-utilization 2, queue 2,
max-score). `heteropool` (default): one prefix index over all vendors credited in each
endpoint's own block size, capacity-normalised load with a bounded spill band, zero-weight
endpoints drained; with priority tiers: latency-sensitive requests (priority > 0) go where their
expected TTFT is lowest, low-priority ones (< 0) fill the capacity left, slow hardware first,
and wait in the picker rather than queue in front of latency-sensitive work (docs/priority.md).

`parameters` (e.g. the routing ConfigMap's `parameters`) override plugin parameters by plugin
name or type, and scorer weights under `weights`::

    {"capacity-load-scorer": {"spillAbs": 32}, "weights": {"prefix-affinity-scorer": 2}}

A plugin's parameters apply wherever the plugin appears (the profile and its tiers); a tier's
scorer weights are named `<tier>/<scorer>` under `weights` (e.g. `fill/spare-hardware-scorer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heteropool.names import DEFAULT_POLICY, POLICY_NAMES, PolicyName
from heteropool.routing import Router
from heteropool.scheduling.errors import ConfigError
from heteropool.scheduling.profile import PluginRef, ProfileSpec, TierSpec, build_profile
from heteropool.scheduling.registry import Registry, register_builtins

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
        "tiers": {
            "latency": {
                "filters": [{"type": "weight-filter"}],
                "scorers": [
                    {"type": "expected-ttft-scorer", "weight": 1},
                    {"type": "capacity-load-scorer", "weight": 0.2},
                ],
            },
            "fill": {
                "filters": [{"type": "weight-filter"}, {"type": "fill-headroom-filter"}],
                "scorers": [
                    {"type": "prefix-affinity-scorer", "weight": 1},
                    {"type": "capacity-load-scorer", "weight": 1},
                    {"type": "spare-hardware-scorer", "weight": 0.2},
                ],
            },
        },
    },
}


def _apply_parameters(name: str, spec: ProfileSpec, parameters: Mapping[str, Any]) -> ProfileSpec:
    # every place a plugin appears: (tier or "" for the profile, group, index); the picker has index None
    places: dict[str, list[tuple[str, str, int | None]]] = {}
    groups: dict[tuple[str, str], list[PluginRef]] = {}
    for group in ("producers", "filters", "scorers"):
        groups[("", group)] = list(getattr(spec, group))
    for tier_name, t in spec.tiers.items():
        for group in ("filters", "scorers"):
            groups[(tier_name, group)] = list(getattr(t, group))
    for (tier, group), refs in groups.items():
        for i, r in enumerate(refs):
            places.setdefault(r.ref, []).append((tier, group, i))
    places.setdefault(spec.picker.ref, []).append(("", "picker", None))
    picker = spec.picker
    for key, value in parameters.items():
        if key == "weights":
            if not isinstance(value, Mapping):
                raise ConfigError("parameters.weights", "expected a mapping of scorer -> weight")
            for ref, weight in value.items():
                tier, _, scorer = ref.rpartition("/")
                matches = [p for p in places.get(scorer, ()) if p[0] == tier and p[1] == "scorers"]
                if not matches:
                    raise ConfigError(f"parameters.weights.{ref}", f"no scorer {ref!r} in policy {name!r}")
                if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
                    raise ConfigError(f"parameters.weights.{ref}", f"expected a number >= 0, got {weight!r}")
                index = matches[0][2]
                assert index is not None
                scorers = groups[(tier, "scorers")]
                scorers[index] = scorers[index].model_copy(update={"weight": float(weight)})
            continue
        where = places.get(key)
        if where is None:
            raise ConfigError(
                f"parameters.{key}", f"no plugin {key!r} in policy {name!r} (has: {', '.join(sorted(places))})"
            )
        if not isinstance(value, Mapping):
            raise ConfigError(f"parameters.{key}", "expected a mapping of parameter -> value")
        for tier, group, index in where:
            if group == "picker":
                picker = picker.model_copy(update={"parameters": {**picker.parameters, **value}})
                continue
            assert index is not None
            refs = groups[(tier, group)]
            refs[index] = refs[index].model_copy(update={"parameters": {**refs[index].parameters, **value}})
    tiers = {
        tier: TierSpec(filters=groups[(tier, "filters")], scorers=groups[(tier, "scorers")]) for tier in spec.tiers
    }
    return ProfileSpec(
        picker=picker,
        producers=groups[("", "producers")],
        filters=groups[("", "filters")],
        scorers=groups[("", "scorers")],
        tiers=tiers,
    )


def build_router(name: str, *, seed: int = 0, parameters: Mapping[str, Any] | None = None) -> Router:
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
