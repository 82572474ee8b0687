"""Switching between standalone and Gateway mode keeps the old data plane until the new one serves."""

from __future__ import annotations

from typing import Any

from heteropool.handlers.handover import plan_handover, route_accepted
from heteropool.semantics import Pool, parse_pool

VENDORS = [{"name": "nvidia", "vendor": "nvidia", "accelerator": "h100-nvl", "replicas": 1}]


def _pool(gateway: dict[str, Any] | None = None) -> Pool:
    spec = {"model": {"name": "m"}, "vendors": VENDORS, **({"gateway": gateway} if gateway else {})}
    return parse_pool(spec, name="p", namespace="ns")


def _route(*parents: dict[str, str]) -> dict[str, Any]:
    return {
        "status": {
            "parents": [
                {"parentRef": {"name": "gw"}, "conditions": [{"type": t, "status": s} for t, s in p.items()]}
                for p in parents
            ]
        }
    }


GATEWAY_MODE = {"parentRefs": [{"name": "gw"}]}
ENVOY = {
    ("Deployment", "p-gateway"),
    ("Service", "p-gateway"),
    ("PodDisruptionBudget", "p-gateway"),
    ("ConfigMap", "p-envoy"),
}


def test_a_route_counts_as_serving_once_a_gateway_accepted_it_and_resolved_its_pool() -> None:
    assert not route_accepted(None)
    assert not route_accepted({"spec": {}})  # no Gateway has looked at it yet
    assert not route_accepted(_route({"Accepted": "False"}))
    assert not route_accepted(_route({"Accepted": "True", "ResolvedRefs": "False"}))  # InferencePool not resolved
    assert route_accepted(_route({"Accepted": "True", "ResolvedRefs": "True"}))
    assert route_accepted(_route({"Accepted": "False"}, {"Accepted": "True"}))  # one of several Gateways


def test_to_gateway_mode_the_envoy_stays_until_the_route_is_accepted() -> None:
    pool = _pool(GATEWAY_MODE)
    pending = plan_handover(pool, envoy_exists=True, envoy_ready_replicas=2, route=_route({"Accepted": "False"}))
    assert set(pending.keep) == ENVOY
    assert pending.note is not None and "gw" in pending.note and pending.pending
    done = plan_handover(pool, envoy_exists=True, envoy_ready_replicas=2, route=_route({"Accepted": "True"}))
    assert not done.keep and done.note is None


def test_a_new_gateway_mode_pool_has_nothing_to_hand_over() -> None:
    assert not plan_handover(_pool(GATEWAY_MODE), envoy_exists=False, envoy_ready_replicas=0, route=None).keep


def test_to_standalone_the_route_and_inference_pool_stay_until_an_envoy_is_ready() -> None:
    pool = _pool()
    route = _route({"Accepted": "True"})
    pending = plan_handover(pool, envoy_exists=True, envoy_ready_replicas=0, route=route)
    assert set(pending.keep) == {("InferencePool", "p"), ("HTTPRoute", "p")} and pending.note
    assert not plan_handover(pool, envoy_exists=True, envoy_ready_replicas=1, route=route).keep
    assert not plan_handover(pool, envoy_exists=False, envoy_ready_replicas=0, route=None).keep  # never was Gateway
