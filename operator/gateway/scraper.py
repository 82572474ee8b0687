"""Engine-state scraping (vLLM /metrics) and health probing of ejected endpoints."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp

from heteropool.gateway.endpoints import EndpointPool

__all__ = ["EngineState", "parse_vllm_metrics", "scrape_loop", "probe_loop"]

log = logging.getLogger(__name__)

_RUNNING = "vllm:num_requests_running"
_WAITING = "vllm:num_requests_waiting"
_KV = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")


@dataclass(frozen=True, slots=True)
class EngineState:
    running: int | None
    waiting: int | None
    kv_usage: float | None


def parse_vllm_metrics(text: str) -> EngineState:
    """Running/waiting (summed over label sets, e.g. engines) and KV usage (max) from /metrics text."""
    running: float | None = None
    waiting: float | None = None
    kv: float | None = None
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        name_end = line.find("{")
        if name_end < 0:
            name_end = line.find(" ")
        name = line[:name_end]
        rest = line[line.rindex("}") + 1 :] if "}" in line else line[name_end:]
        try:
            value = float(rest.split()[0])
        except (ValueError, IndexError):
            continue
        if name == _RUNNING:
            running = (running or 0.0) + value
        elif name == _WAITING:
            waiting = (waiting or 0.0) + value
        elif name in _KV:
            kv = value if kv is None else max(kv, value)
    return EngineState(
        running=None if running is None else int(running),
        waiting=None if waiting is None else int(waiting),
        kv_usage=kv,
    )


async def _scrape_one(session: aiohttp.ClientSession, pool: EndpointPool, url: str, timeout: float) -> None:
    try:
        async with session.get(f"{url}/metrics", timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if resp.status != 200:
                return
            text = await resp.text()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return
    st = parse_vllm_metrics(text)
    pool.scraped(url, st.running, st.waiting, st.kv_usage)


async def scrape_loop(session: aiohttp.ClientSession, pool: EndpointPool, interval_s: float) -> None:
    """Scrape every endpoint every interval_s (concurrently, each bounded by the interval)."""
    while True:
        ejected = set(pool.ejected())
        urls = [u for u in pool.urls() if u not in ejected]
        if urls:
            await asyncio.gather(*(_scrape_one(session, pool, u, max(interval_s, 0.5)) for u in urls))
        await asyncio.sleep(interval_s)


async def probe_loop(session: aiohttp.ClientSession, pool: EndpointPool, interval_s: float) -> None:
    """Probe ejected endpoints' /health; a 200 brings one back before its ejection expires."""
    while True:
        await asyncio.sleep(interval_s)
        for url in pool.ejected():
            try:
                async with session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=interval_s)) as resp:
                    if resp.status == 200:
                        log.info("endpoint %s healthy again", url)
                        pool.restore(url)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                continue
