"""Engine-state scraping (vLLM /metrics) and health probing of ejected endpoints."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from heteropool.scheduling.endpoints import EndpointPool
from heteropool.vllm_metrics import parse_engine_load

__all__ = ["scrape_loop", "probe_loop"]

log = logging.getLogger(__name__)


async def _scrape_one(session: aiohttp.ClientSession, pool: EndpointPool, url: str, timeout: float) -> None:
    try:
        async with session.get(f"{url}/metrics", timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if resp.status != 200:
                return
            text = await resp.text()
    except (TimeoutError, aiohttp.ClientError):
        return
    st = parse_engine_load(text)
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
            except (TimeoutError, aiohttp.ClientError):
                continue
