"""`heteropool sim --fixed-ttft-ms/--fixed-itl-ms`: the engine-less fast mode, served in-process on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError

from heteropool.ports import bind_problem
from heteropool.sim.server import SimSettings, start_replicas
from heteropool.supervise import free_port
from heteropool.validation import first_problem

MODEL = "bench-model"

Start = Callable[..., Awaitable[list[str]]]


def _free_ports(n: int) -> int:
    """A first port with n consecutive free ones after it."""
    while True:
        base = free_port()
        if base + n <= 65535 and all(bind_problem("127.0.0.1", p) is None for p in range(base, base + n)):
            return base


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """start(**settings) -> the replicas' base URLs; every runner is cleaned up when the test ends."""
    runners = []

    async def factory(**overrides: Any) -> list[str]:
        ports = overrides.pop("ports", 1)
        settings = SimSettings(
            port=_free_ports(ports), ports=ports, served_model_name=(MODEL,), admin_api=True, **overrides
        )
        _servers, started, bound = await start_replicas(settings)
        runners.extend(started)
        return [f"http://127.0.0.1:{p}" for p in bound]

    yield factory
    for runner in runners:
        await runner.cleanup()


def _events(raw: str) -> list[Any]:
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]", raw[-200:]
    return [orjson.loads(e.removeprefix("data: ")) for e in events[:-2]]


async def test_first_token_and_gaps_follow_the_fixed_latencies(start: Start) -> None:
    (url,) = await start(fixed_ttft_ms=300, fixed_itl_ms=100)
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 4, "stream": True}
    arrivals: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        t0 = time.perf_counter()
        async with client.stream("POST", url + "/v1/completions", json=body) as resp:
            async for line in resp.aiter_lines():
                if line.startswith("data: {"):
                    arrivals.append(time.perf_counter() - t0)
    assert len(arrivals) == 4
    # Lower bounds hold on any machine; the upper ones only catch a schedule that ignores the flags.
    assert 0.28 <= arrivals[0] < 3.0
    assert 0.28 + 3 * 0.09 <= arrivals[-1] < 6.0
    assert all(b - a >= 0.05 for a, b in zip(arrivals, arrivals[1:], strict=False))


async def test_completions_and_chat_answer_in_vllm_formats(start: Start) -> None:
    (url,) = await start(fixed_ttft_ms=0, fixed_itl_ms=0)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        plain = (
            await client.post("/v1/completions", json={"model": MODEL, "prompt": "x " * 40, "max_tokens": 5})
        ).json()
        assert plain["object"] == "text_completion" and plain["choices"][0]["finish_reason"] == "length"
        assert plain["usage"]["completion_tokens"] == 5 and plain["usage"]["prompt_tokens"] == 20  # 80 chars / 4
        chat = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 3,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        events = _events((await client.post("/v1/chat/completions", json=chat)).text)
        assert events[0]["choices"][0]["delta"]["role"] == "assistant"
        assert [e["choices"][0]["finish_reason"] for e in events[1:4]] == [None, None, "length"]
        assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 3
        answer = await client.post("/v1/chat/completions", json={**chat, "stream": False, "stream_options": None})
        assert answer.json()["object"] == "chat.completion"
        assert answer.json()["choices"][0]["message"]["content"] == "".join(
            e["choices"][0]["delta"]["content"] for e in events[1:4]
        )


async def test_the_cap_bounds_output_tokens_and_bad_requests_still_get_errors(start: Start) -> None:
    (url,) = await start(fixed_ttft_ms=0, max_tokens_cap=2)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        r = await client.post("/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 50})
        assert r.json()["usage"]["completion_tokens"] == 2
        missing = await client.post("/v1/completions", json={"model": "nope", "prompt": "x"})
        assert missing.status_code == 404
        too_long = await client.post("/v1/completions", json={"model": MODEL, "prompt": "x" * 600_000})
        assert too_long.status_code == 400 and "maximum context length" in too_long.json()["error"]["message"]


async def test_each_port_is_an_independent_replica_with_its_own_faults(start: Start) -> None:
    urls = await start(ports=3, fixed_ttft_ms=0)
    ports = [int(u.rsplit(":", 1)[1]) for u in urls]
    assert ports == [ports[0], ports[0] + 1, ports[0] + 2]
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 2}
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(urls[1] + "/admin/config", json={"error_rate": 1.0})).status_code == 200
        assert [(await client.post(u + "/v1/completions", json=body)).status_code for u in urls] == [200, 500, 200]
        await client.post(urls[2] + "/admin/config", json={"draining": True})
        assert [(await client.get(u + "/health")).status_code for u in urls] == [200, 200, 503]
        assert (await client.post(urls[2] + "/v1/completions", json=body)).status_code == 503


async def test_slowdown_stretches_the_fixed_latencies(start: Start) -> None:
    (url,) = await start(fixed_ttft_ms=100)
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 1}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await client.post("/admin/config", json={"slowdown": 5.0})
        t0 = time.perf_counter()
        assert (await client.post("/v1/completions", json=body)).status_code == 200
        assert time.perf_counter() - t0 >= 0.45


async def test_metrics_and_peer_probes_see_the_requests(start: Start) -> None:
    (url,) = await start(fixed_ttft_ms=0, fixed_itl_ms=0)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(3):
            await client.post("/v1/completions", json={"model": MODEL, "prompt": "hello world", "max_tokens": 4})
        metrics = (await client.get("/metrics")).text
        assert 'vllm:generation_tokens_total{engine="0",model_name="bench-model"} 12.0' in metrics
        assert 'vllm:request_success_total{engine="0",finished_reason="length",model_name="bench-model"} 3.0' in metrics
        assert 'vllm:time_to_first_token_seconds_count{engine="0",model_name="bench-model"} 3.0' in metrics
        assert (await client.get("/load")).json() == {"server_load": 0}
        tokens = (await client.post("/tokenize", json={"prompt": "one two six"})).json()
        assert tokens["count"] == 3
        assert (await client.get("/server_info")).json()["model_id"] == MODEL


def test_several_ports_need_a_first_port() -> None:
    with pytest.raises(ValidationError) as info:
        SimSettings(port=0, ports=2)
    where, problem = first_problem(info.value)
    assert where == "ports" and "first port" in problem
    with pytest.raises(ValidationError, match="65535"):
        SimSettings(port=65535, ports=2)
