"""InferenceObjectives -> request priorities (pure), and their watch against a fake API server."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from heteropool.epp.discovery import InClusterCredentials
from heteropool.epp.objectives import ObjectiveWatch, objective_priorities

from ..scheduling.conftest import wait_for

PATH = "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/ns/inferenceobjectives"


def objective(name: str, pool: str = "granite", priority: Any = None, **ref: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"poolRef": {"name": pool, **ref}}
    if priority is not None:
        spec["priority"] = priority
    return {"metadata": {"name": name}, "spec": spec}


def test_objectives_of_this_pool_give_their_priority_unset_is_zero() -> None:
    objects = [
        objective("chat", priority=10),
        objective("batch", priority=-1, group="inference.networking.k8s.io", kind="InferencePool"),
        objective("plain"),
        objective("other-pool", pool="llama", priority=99),
        objective("not-a-pool", priority=5, kind="Service"),
        objective("bad", priority="high"),
    ]
    assert objective_priorities(objects, "granite") == {"chat": 10, "batch": -1, "plain": 0}


async def test_a_missing_api_keeps_the_picker_going_and_objectives_apply_once_it_exists(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    installed = asyncio.Event()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def objectives(request: web.Request) -> web.StreamResponse:
        if not installed.is_set():
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        if request.query.get("watch") != "1":
            return web.json_response({"items": [objective("chat", priority=10)], "metadata": {"resourceVersion": "5"}})
        resp = web.StreamResponse()
        await resp.prepare(request)
        while True:
            await resp.write(orjson.dumps(await events.get()) + b"\n")

    app = web.Application()
    app.router.add_get(PATH, objectives)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    seen: list[Mapping[str, int] | None] = []
    watch = ObjectiveWatch(
        InClusterCredentials(str(server.make_url("")), sa_dir=tmp_path),
        "ns",
        "granite",
        seen.append,
        retry_s=0.01,
        missing_retry_s=0.01,
    )
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(watch.run(session))
        try:
            await wait_for(lambda: bool(seen))
            assert seen[-1] is None  # no API: nothing from the cluster, and the watch keeps running
            installed.set()
            await wait_for(lambda: seen[-1] == {"chat": 10})
            await events.put({"type": "ADDED", "object": objective("batch", priority=-1)})
            await wait_for(lambda: seen[-1] == {"chat": 10, "batch": -1})
            await events.put({"type": "DELETED", "object": objective("chat")})
            await wait_for(lambda: seen[-1] == {"batch": -1})
            assert not task.done()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.close()
