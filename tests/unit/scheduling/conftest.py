"""Helpers for the routing core's unit tests: endpoint views, requests, waiting on a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from heteropool.routing import EndpointView, RouteRequest


def make_view(id: str = "http://a", **overrides: Any) -> EndpointView:
    fields: dict[str, Any] = {"group": "nvidia"}
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
