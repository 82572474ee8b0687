"""The operator's weight loop: scrape ready replicas, publish weights to the gateway and status.

The pool's "pods" are real `heteropool sim` processes on 127.0.0.1; EndpointSlices in the API
emulator point the vendor Services at them, as the endpoints controller would in a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from heteropool.routing import ROUTING_CONFIG_KEY, RoutingConfig
from heteropool_testing.processes import Proc, start_sim

pytestmark = pytest.mark.slow

GROUPS = {"sim-h100": "h100-nvl", "sim-mi325x": "mi325x", "sim-gaudi3": "gaudi3"}


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Proc]]:
    started = {group: start_sim(profile, None, 20.0) for group, profile in GROUPS.items()}
    yield started
    for sim in started.values():
        sim.stop()


def _pool() -> dict[str, Any]:
    return {
        "apiVersion": "heteropool.dev/v1alpha1",
        "kind": "HeteroInferencePool",
        "metadata": {"name": "sim"},
        "spec": {
            "model": {"name": "ibm-granite/granite-4.1-8b"},
            "vendors": [
                {"name": group, "vendor": "sim", "accelerator": profile, "replicas": 1}
                for group, profile in GROUPS.items()
            ],
            "weights": {"interval": "1s"},
        },
    }


def _endpoint_slice(group: str, sim: Proc) -> dict[str, Any]:
    port = int(sim.url.rsplit(":", 1)[1])
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"sim-vllm-{group}-abcde", "labels": {"kubernetes.io/service-name": f"sim-vllm-{group}"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
    }


async def test_weights_reach_the_routing_configmap_status_and_metrics(cluster: Any, sims: dict[str, Proc]) -> None:
    context = await cluster.start_operator()
    await cluster.create(_pool())
    for group, sim in sims.items():
        await cluster.create(_endpoint_slice(group, sim))

    async def published() -> RoutingConfig | None:
        configmap = await cluster.get("ConfigMap", "sim-routing")
        if configmap is None:
            return None
        document = RoutingConfig.model_validate(yaml.safe_load(configmap["data"][ROUTING_CONFIG_KEY]))
        return document if document.generation >= 1 and len(document.endpoints) == 3 else None

    document = await cluster.wait(published, timeout=20, what="weights in the routing ConfigMap")
    assert {e.url for e in document.endpoints} == {sim.url for sim in sims.values()}
    assert all(e.capacity and e.capacity > 0 and e.capacity_multiplier is not None for e in document.endpoints)
    weights = {name: v.share for name, v in document.groups.items()}
    assert weights["sim-mi325x"] > weights["sim-h100"] > weights["sim-gaudi3"] > 0  # the capacity priors
    assert sum(weights.values()) == pytest.approx(1.0, abs=0.01)

    async def vendor_status() -> list[dict[str, Any]] | None:
        body = await cluster.get("HeteroInferencePool", "sim")
        vendors = (body.get("status") or {}).get("vendors") or []
        return vendors if len(vendors) == 3 and all("lastScrapeTime" in v for v in vendors) else None

    vendors = await cluster.wait(vendor_status, timeout=20, what="status.vendors[] from the weight loop")
    assert all(v["capacityTokensPerS"] > 0 and v["weight"] > 0 for v in vendors)
    sample = context.metrics.registry.get_sample_value(
        "heteropool_operator_vendor_weight_ratio",
        {"pool_namespace": cluster.namespace, "pool": "sim", "group": "sim-h100", "vendor": "sim"},
    )
    assert sample is not None and sample > 0

    # A replica that stops answering: its estimate is kept, then the pool says its metrics are stale.
    sims["sim-gaudi3"].stop()

    async def stale() -> dict[str, Any] | None:
        condition = await cluster.condition("sim", "MetricsStale")
        return condition if condition and condition["status"] == "True" else None

    condition = await cluster.wait(stale, timeout=20, what="MetricsStale=True")
    assert condition["reason"] == "ScrapesFailing" and "sim-gaudi3" in condition["message"]
    degraded = await cluster.condition("sim", "Degraded")
    assert degraded is not None and degraded["status"] == "False"  # stale metrics do not degrade a serving pool
    body = await cluster.get("HeteroInferencePool", "sim")
    gaudi = next(v for v in body["status"]["vendors"] if v["name"] == "sim-gaudi3")
    assert gaudi["weight"] > 0  # never zeroed because scrapes failed
