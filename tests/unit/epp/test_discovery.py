"""Kubernetes discovery: EndpointSlice/ConfigMap -> endpoints (pure), and list+watch against a fake API."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from heteropool.endpointslices import slice_endpoints
from heteropool.epp.discovery import (
    InClusterCredentials,
    KubeEndpointSource,
    merge_entries,
)
from heteropool.routing import EndpointEntry, RoutingConfig, RoutingConfigError
from heteropool.routing_document import from_configmap

from ..scheduling.conftest import wait_for


def make_slice(
    name: str, service: str, addrs: list[tuple[str, dict[str, bool]]], *, group: str | None = None, port: int = 8000
) -> dict[str, Any]:
    labels = {"kubernetes.io/service-name": service, "heteropool.dev/pool": "p"}
    if group:
        labels["heteropool.dev/group"] = group
    return {
        "metadata": {"name": name, "labels": labels},
        "ports": [{"name": "http", "port": port}],
        "endpoints": [{"addresses": [a], "conditions": c} for a, c in addrs],
    }


def make_configmap(doc: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p-routing"}, "data": {"routing.yaml": yaml.safe_dump(doc)}}


ROUTING = {
    "pool": "p",
    "model": "m",
    "policy": "heteropool",
    "groups": {
        "nvidia": {
            "share": 1.0,
            "capacityTokensPerS": 3600,
            "prefillTokensPerS": 30000,
            "blockSize": 16,
            "service": "p-nvidia",
        },
        "gaudi": {
            "share": 0.5,
            "capacityTokensPerS": 630,
            "prefillTokensPerS": 7600,
            "blockSize": 128,
            "service": "p-gaudi",
        },
    },
    "endpoints": [
        {
            "url": "http://10.0.0.2:8000",
            "group": "gaudi",
            "capacity": 700,
            "capacityMultiplier": 0,
            "prefillTokensPerS": 5000,
        }
    ],
}


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [({}, True), ({"ready": True}, True), ({"ready": False}, False), ({"ready": True, "terminating": True}, False)],
    ids=["unset-is-ready", "ready", "not-ready", "terminating"],
)
def test_slice_readiness(conditions: dict[str, bool], ready: bool) -> None:
    assert slice_endpoints(make_slice("s", "svc", [("10.0.0.1", conditions)])) == [("http://10.0.0.1:8000", ready)]


def test_ipv6_addresses_are_bracketed() -> None:
    assert slice_endpoints(make_slice("s", "svc", [("fd00::1", {})])) == [("http://[fd00::1]:8000", True)]


def test_configmap_parses_and_errors_name_the_field() -> None:
    assert from_configmap(make_configmap(ROUTING)).groups["gaudi"].block_size == 128
    bad = {**ROUTING, "groups": {"nvidia": {"share": -1, "blockSize": 16}}}
    with pytest.raises(RoutingConfigError, match=r"configmap p-routing data.routing.yaml.groups.nvidia.share"):
        from_configmap(make_configmap(bad))
    with pytest.raises(RoutingConfigError, match="missing"):
        from_configmap({"metadata": {"name": "x"}, "data": {}})


def test_a_document_with_the_deprecated_field_names_is_read_and_the_names_are_logged(caplog) -> None:
    old = {
        "pool": "p",
        "model": "m",
        "policy": "heteropool",
        "vendors": {"gaudi": {"weight": 0.5, "blockSize": 128, "service": "p-gaudi"}},
        "endpoints": [{"url": "http://10.0.0.2:8000", "vendor": "gaudi", "weight": 0, "prefill_tokens_per_s": 5000}],
    }
    with caplog.at_level("WARNING", logger="heteropool.deprecations"):
        config = from_configmap(make_configmap(old))
    assert config.groups["gaudi"].share == 0.5
    assert config.endpoints[0].group == "gaudi" and config.endpoints[0].capacity_multiplier == 0
    assert config.endpoints[0].prefill_tokens_per_s == 5000
    logged = caplog.text
    for old_name, new_name in [
        ("vendors", "groups"),
        ("weight", "share"),
        ("vendor", "group"),
        ("weight", "capacityMultiplier"),
        ("prefill_tokens_per_s", "prefillTokensPerS"),
    ]:
        assert f"field {old_name!r} is deprecated, use {new_name!r}" in logged


def test_merge_applies_group_facts_and_endpoint_overrides_and_drops_unready() -> None:
    config = RoutingConfig.model_validate(ROUTING)
    slices = [
        make_slice("a", "p-nvidia", [("10.0.0.1", {}), ("10.0.0.9", {"ready": False})], group="nvidia"),
        make_slice("b", "p-gaudi", [("10.0.0.2", {}), ("10.0.0.3", {})], group="intel-gaudi"),
        make_slice("c", "other", [("10.0.0.4", {})]),
        make_slice("d", "other", [("10.0.0.5", {})], group="amd"),
    ]
    got = {e.url: (e.group, e.capacity, e.block_size, e.prefill_tokens_per_s) for e in merge_entries(slices, config)}
    assert got == {
        "http://10.0.0.1:8000": ("nvidia", 3600, 16, 30000),
        "http://10.0.0.2:8000": ("gaudi", 700, 128, 5000),  # the weight loop's measurement wins
        "http://10.0.0.3:8000": ("gaudi", 630, 128, 7600),
        "http://10.0.0.5:8000": ("amd", None, None, None),
    }


def test_group_shares_become_per_endpoint_weights_on_capacity() -> None:
    # two groups, equal shares; nvidia: 1 replica of 3000, gaudi: 2 replicas of 500
    doc = {
        "pool": "p",
        "model": "m",
        "policy": "heteropool",
        "groups": {
            "nvidia": {"share": 0.5, "capacityTokensPerS": 3000, "blockSize": 16, "service": "p-nvidia"},
            "gaudi": {"share": 0.5, "capacityTokensPerS": 500, "blockSize": 128, "service": "p-gaudi"},
        },
    }
    slices = [
        make_slice("a", "p-nvidia", [("10.0.0.1", {})]),
        make_slice("b", "p-gaudi", [("10.0.0.2", {}), ("10.0.0.3", {})]),
    ]
    entries = {e.url: e for e in merge_entries(slices, RoutingConfig.model_validate(doc))}
    effective = {u: (e.capacity or 0) * (e.capacity_multiplier or 0) for u, e in entries.items()}
    nvidia = effective["http://10.0.0.1:8000"]
    gaudi = effective["http://10.0.0.2:8000"] + effective["http://10.0.0.3:8000"]
    assert nvidia == pytest.approx(gaudi)


async def test_source_lists_then_follows_watch_events(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t0k3n\n")
    watch_events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    seen_auth: list[str] = []

    async def slices(request: web.Request) -> web.StreamResponse:
        seen_auth.append(request.headers.get("Authorization", ""))
        if request.query.get("watch") != "1":
            assert request.query["labelSelector"] == "heteropool.dev/pool=p,kubernetes.io/service-name"
            items = [make_slice("a", "p-nvidia", [("10.0.0.1", {})])]
            return web.json_response({"items": items, "metadata": {"resourceVersion": "7"}})
        assert request.query["resourceVersion"] == "7"
        resp = web.StreamResponse()
        await resp.prepare(request)
        while True:
            ev = await watch_events.get()
            await resp.write(orjson.dumps(ev) + b"\n")

    async def configmaps(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "1":
            return web.json_response({"items": [make_configmap(ROUTING)], "metadata": {"resourceVersion": "3"}})
        resp = web.StreamResponse()
        await resp.prepare(request)
        await asyncio.Event().wait()
        return resp

    app = web.Application()
    app.router.add_get("/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices", slices)
    app.router.add_get("/api/v1/namespaces/ns/configmaps", configmaps)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    configs: list[RoutingConfig] = []
    updates: list[Sequence[EndpointEntry]] = []
    src = KubeEndpointSource(
        InClusterCredentials(str(server.make_url("")), sa_dir=tmp_path),
        "ns",
        "p",
        "p-routing",
        on_config=configs.append,
        retry_s=0.01,
    )
    task = asyncio.create_task(src.run(updates.append))
    try:
        await wait_for(lambda: bool(updates) and bool(configs) and updates[-1] and updates[-1][0].capacity == 3600)
        await watch_events.put({"type": "ADDED", "object": make_slice("b", "p-gaudi", [("10.0.0.3", {})])})
        await wait_for(lambda: len(updates[-1]) == 2)
        await watch_events.put({"type": "DELETED", "object": make_slice("a", "p-nvidia", [])})
        await wait_for(lambda: [e.url for e in updates[-1]] == ["http://10.0.0.3:8000"])
        assert configs[-1].policy == "heteropool"
        assert set(seen_auth) == {"Bearer t0k3n"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()


def test_routing_config_changes_swap_the_policy_and_bad_ones_keep_it() -> None:
    from heteropool.epp.picker import EndpointPicker
    from heteropool.scheduling.endpoints import EndpointPool

    gw = EndpointPicker(EndpointPool(clock=lambda: 0.0))
    assert gw.router.name == "heteropool"
    gw.apply_routing_config(RoutingConfig.model_validate({**ROUTING, "policy": "llm-d"}))
    assert gw.router.name == "llm-d"
    gw.apply_routing_config(RoutingConfig.model_validate({**ROUTING, "policy": "nope"}))
    assert gw.router.name == "llm-d"
    gw.apply_routing_config(
        RoutingConfig.model_validate(
            {**ROUTING, "policy": "heteropool", "parameters": {"capacity-load-scorer": {"spillAbs": 4}}}
        )
    )
    assert gw.router.name == "heteropool"
