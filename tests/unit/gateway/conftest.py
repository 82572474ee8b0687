"""Fixtures for gateway unit tests: endpoint-view factory, stub backends, an in-process gateway."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from heteropool.gateway.server import Gateway
from heteropool.gateway.settings import GatewaySettings
from heteropool.routing import EndpointEntry, EndpointView, RouteRequest

_STUB_PATH = Path(__file__).with_name("stub_backend.py")


def load_stub() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gateway_stub_backend", _STUB_PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_view(id: str = "http://a", **overrides: Any) -> EndpointView:
    fields: dict[str, Any] = {"vendor": "nvidia"}
    fields.update(overrides)
    return EndpointView(id=id, **fields)


def make_request(prompt: str = "hello", request_id: str = "r1", **overrides: Any) -> RouteRequest:
    fields: dict[str, Any] = {"prompt_tokens": len(prompt) // 4, "max_tokens": 16}
    fields.update(overrides)
    return RouteRequest(request_id=request_id, prompt=prompt, **fields)


async def wait_for(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll a condition until it holds or the deadline passes (no sleeping as synchronisation)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.005)


@pytest.fixture
def view_factory() -> Callable[..., EndpointView]:
    return make_view


@pytest.fixture
async def stubs() -> AsyncIterator[Callable[[str], Awaitable[tuple[str, dict[str, Any]]]]]:
    """Start stub backends on 127.0.0.1: `url, state = await stubs("a")` (state: the stub's knobs)."""
    mod = load_stub()
    servers: list[TestServer] = []

    async def start(name: str) -> tuple[str, dict[str, Any]]:
        app = mod.make_app(name)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/"), app[mod.STATE]

    yield start
    for s in servers:
        await s.close()


class GatewayHarness:
    def __init__(self, gw: Gateway, server: TestServer, client: aiohttp.ClientSession) -> None:
        self.gw = gw
        self.server = server
        self.client = client
        self.url = str(server.make_url("")).rstrip("/")


@pytest.fixture
async def gateway() -> AsyncIterator[Callable[..., Awaitable[GatewayHarness]]]:
    """`h = await gateway(entries, **settings)`: a real gateway app on 127.0.0.1 with a client."""
    made: list[GatewayHarness] = []

    async def start(entries: list[EndpointEntry], **settings: Any) -> GatewayHarness:
        settings.setdefault("scrape_interval_s", 0)
        gw = Gateway(GatewaySettings(**settings))
        gw.apply_endpoints(entries)
        server = TestServer(gw.build_app(), host="127.0.0.1")
        await server.start_server()
        client = aiohttp.ClientSession()
        h = GatewayHarness(gw, server, client)
        made.append(h)
        return h

    yield start
    for h in made:
        await h.client.close()
        await h.server.close()
