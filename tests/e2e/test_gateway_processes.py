"""The gateway as a real process in front of real `heteropool sim` replicas on 127.0.0.1.

Three simulator replicas of different vendor profiles (h100-nvl, mi325x, gaudi3), sped up with
--time-scale; the gateway reads a static endpoint file. Synchronisation is by polling a
condition with a deadline, never by sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from processes import Proc, free_port, start_gateway, start_sim

pytestmark = pytest.mark.slow

MODEL = "ibm-granite/granite-4.1-8b"
PROFILES = {"h100-nvl": ("nvidia", 3600.0, 16), "mi325x": ("amd", 2100.0, 16), "gaudi3": ("gaudi", 630.0, 128)}
_VOLATILE = re.compile(rb'"id":"[^"]*"|"created":\d+')


def write_endpoints(path: Path, sims: dict[str, Proc], **overrides: dict[str, Any]) -> None:
    entries = []
    for profile, sim in sims.items():
        vendor, capacity, block = PROFILES[profile]
        entry: dict[str, Any] = {"url": sim.url, "vendor": vendor, "capacity": capacity, "block_size": block}
        entry.update(overrides.get(profile, {}))
        entries.append(entry)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(entries))
    tmp.replace(path)  # atomic: the gateway never reads a half-written file


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Proc]]:
    started = {p: start_sim(p) for p in PROFILES}
    yield started
    for s in started.values():
        s.stop()


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    made: list[Proc] = []

    def make(sims: dict[str, Proc], policy: str = "heteropool", *extra: str, **overrides: dict[str, Any]) -> Proc:
        path = tmp_path / "endpoints.yaml"
        write_endpoints(path, sims, **overrides)
        gw = start_gateway(path, policy, *extra)
        made.append(gw)
        return gw

    yield make
    for g in made:
        g.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
        yield s


def _body(prompt: str, *, stream: bool, max_tokens: int = 8, chat: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "max_tokens": max_tokens, "stream": stream}
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any], chat: bool = False) -> tuple[int, str, bytes]:
    path = "/v1/chat/completions" if chat else "/v1/completions"
    async with http.post(url + path, json=body) as r:
        return r.status, r.headers.get("x-heteropool-endpoint", ""), await r.read()


def _shared(group: int, n: int) -> str:
    return (f"You are assistant number {group}. Follow the policy carefully. " * 40) + f"Question {n}: why?"


@pytest.mark.parametrize(("stream", "chat"), [(True, False), (False, False), (True, True), (False, True)],
                         ids=["stream", "plain", "chat-stream", "chat-plain"])
async def test_responses_are_relayed_byte_for_byte(sims, gateway_factory, http, stream: bool, chat: bool) -> None:
    gw = gateway_factory(sims)
    body = _body("Tell me about routers", stream=stream, max_tokens=12, chat=chat)
    status, endpoint, via = await _post(http, gw.url, body, chat)
    assert status == 200
    assert endpoint in {s.url for s in sims.values()}
    _, _, direct = await _post(http, endpoint, body, chat)
    assert _VOLATILE.sub(b"", via) == _VOLATILE.sub(b"", direct)
    if stream:
        assert via.endswith(b"data: [DONE]\n\n")
        usage = [line for line in via.split(b"\n\n") if b'"usage"' in line]
        assert usage and orjson.loads(usage[-1][len(b"data: "):])["usage"]["completion_tokens"] == 12


async def test_shared_prefix_group_sticks_until_its_endpoint_is_overloaded(sims, gateway_factory, http) -> None:
    gw = gateway_factory(sims, "heteropool", "--parameters", '{"capacity-load-scorer": {"spillAbs": 3, "spillRel": 0}}')
    seq = [await _post(http, gw.url, _body(_shared(1, n), stream=False)) for n in range(6)]
    assert {ep for _, ep, _ in seq} and len({ep for _, ep, _ in seq}) == 1
    warm = seq[0][1]
    # a burst of long requests of the same group: the warm endpoint takes the first ones, then spills
    burst = await asyncio.gather(*(_post(http, gw.url, _body(_shared(1, 100 + n), stream=False, max_tokens=400))
                                   for n in range(12)))
    counts = collections.Counter(ep for _, ep, _ in burst)
    assert all(s == 200 for s, _, _ in burst)
    assert counts[warm] >= 3 and len(counts) > 1


async def test_weight_and_capacity_changes_in_the_file_apply_live(sims, gateway_factory, http, tmp_path) -> None:
    gw = gateway_factory(sims, "heteropool")
    path = tmp_path / "endpoints.yaml"
    write_endpoints(path, sims, **{"h100-nvl": {"weight": 0}, "mi325x": {"weight": 0}})
    gaudi = sims["gaudi3"].url

    async def lands_on(target: str, tag: str) -> bool:
        eps = [(await _post(http, gw.url, _body(f"cold {tag} {i} " * 30, stream=False)))[1] for i in range(6)]
        return set(eps) == {target}

    deadline = time.monotonic() + 10
    n = 0
    while not await lands_on(gaudi, f"w{n}"):
        n += 1
        assert time.monotonic() < deadline, "weight change not applied"
    # capacity: make the MI325X replica by far the largest -> idle cold prompts all go there
    write_endpoints(path, sims, **{"mi325x": {"capacity": 1e6}})
    mi = sims["mi325x"].url
    while not await lands_on(mi, f"c{n}"):
        n += 1
        assert time.monotonic() < deadline, "capacity change not applied"


async def test_killed_replica_fails_no_request_that_had_not_started_streaming(gateway_factory, http) -> None:
    own = {p: start_sim(p, time_scale=20) for p in PROFILES}
    try:
        gw = gateway_factory(own, "round-robin")
        victim = own["mi325x"]
        results: list[tuple[str, bool, bool]] = []  # (endpoint, started, ok)

        async def one(i: int) -> None:
            started = False
            endpoint = ""
            try:
                async with http.post(gw.url + "/v1/completions",
                                     json=_body(f"kill test {i}", stream=True, max_tokens=60)) as r:
                    endpoint = r.headers.get("x-heteropool-endpoint", "")
                    assert r.status == 200
                    started = True
                    data = await r.read()
                    results.append((endpoint, started, data.endswith(b"data: [DONE]\n\n")))
            except (aiohttp.ClientError, AssertionError):
                results.append((endpoint, started, False))

        tasks = [asyncio.create_task(one(i)) for i in range(30)]
        deadline = time.monotonic() + 20
        while not any(ep == victim.url for ep, _, _ in results) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        victim.kill()
        tasks += [asyncio.create_task(one(100 + i)) for i in range(30)]
        await asyncio.gather(*tasks)
        failed_before_stream = [r for r in results if not r[2] and not r[1]]
        assert failed_before_stream == []
        assert len(results) == 60
        assert sum(ok for _, _, ok in results) >= 30
        async with http.get(gw.url + "/metrics") as r:
            text = await r.text()
        assert f'heteropool_gateway_ejections_total{{endpoint="{victim.url}",vendor="amd"}} 1.0' in text
    finally:
        for s in own.values():
            s.stop()


async def test_ejected_replica_comes_back(gateway_factory, http) -> None:
    own = {p: start_sim(p) for p in PROFILES}
    try:
        gw = gateway_factory(own, "round-robin")
        victim = own["gaudi3"]
        port = int(victim.url.rsplit(":", 1)[1])
        victim.kill()
        for i in range(6):  # round-robin reaches the dead replica; the request is retried elsewhere
            status, ep, _ = await _post(http, gw.url, _body(f"eject {i}", stream=False))
            assert status == 200 and ep != victim.url
        own["gaudi3"] = start_sim("gaudi3", port=port)
        deadline = time.monotonic() + 15
        seen: set[str] = set()
        i = 0
        while victim.url not in seen:
            assert time.monotonic() < deadline, "replica never came back"
            status, ep, _ = await _post(http, gw.url, _body(f"back {i}", stream=False))
            assert status == 200
            seen.add(ep)
            i += 1
        async with http.get(gw.url + "/metrics") as r:
            text = await r.text()
        assert f'heteropool_gateway_ejections_total{{endpoint="{victim.url}",vendor="gaudi"}} 1.0' in text
    finally:
        for s in own.values():
            s.stop()
