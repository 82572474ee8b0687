"""The weight loop in local mode as a real process, with real simulators, Envoy and the Endpoint Picker.

Three `heteropool sim` replicas (h100-nvl, mi325x, gaudi3, time-scaled) behind `heteropool
epp --endpoints OUT` behind Envoy, `heteropool weights --endpoints IN --write OUT --interval 1`, and a
steady closed-loop load through Envoy. Weights settle in the order of the profiles'
capacities; a replica slowed 2x through `/admin/config` loses weight within 2 intervals, and
regains it when restored. Synchronisation: waiting on conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from heteropool.epp.local import start_local_data_plane
from heteropool.supervise import heteropool_executable, start_process, stop_processes
from heteropool_testing.processes import start_admin_sims
from heteropool_testing.waiting import JsonLines

pytestmark = pytest.mark.slow

PROFILES = {"h100-nvl": 16, "mi325x": 16, "gaudi3": 128}
TIME_SCALE = 10.0
INTERVAL_S = 1.0


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    exe = heteropool_executable()
    procs: list[asyncio.subprocess.Process] = []
    async with httpx.AsyncClient() as http:
        try:
            sims = await start_admin_sims(PROFILES, TIME_SCALE, tmp_path, http, procs)
            src, out = tmp_path / "in.yaml", tmp_path / "out.yaml"
            src.write_text(yaml.safe_dump([{"url": u, "group": p, "blockSize": PROFILES[p]} for p, u in sims.items()]))
            weights_log = tmp_path / "weights.log"
            procs.append(
                await start_process(
                    [exe, "weights", "--endpoints", str(src), "--write", str(out), "--interval", str(INTERVAL_S)],
                    log_path=weights_log,
                )
            )
            log = JsonLines(weights_log)
            await log.next(timeout_s=20)  # the first round wrote OUT from the priors
            assert out.exists()
            plane = await start_local_data_plane(http, out, list(sims.values()), tmp_path, started=procs)
            yield {"sims": sims, "gateway": plane.url, "log": log, "out": out}
        finally:
            await stop_processes(procs)


async def _load(gateway: str, stop: asyncio.Event, concurrency: int = 16) -> int:
    """Closed-loop clients sending distinct (cold) prompts until `stop`; returns completed requests."""
    counter = itertools.count()
    done = 0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal done
        while not stop.is_set():
            n = next(counter)
            body = {
                "model": "ibm-granite/granite-4.1-8b",
                "prompt": f"Request {n}: tell me about routers. " * 4,
                "max_tokens": 48,
            }
            resp = await http.post(gateway + "/v1/completions", json=body)
            assert resp.status_code == 200, resp.text
            done += 1

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency * 2)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return done


def _ordered(line: dict[str, Any]) -> bool:
    g = line["groups"]
    measured = all(v["measured"] == 1 for v in g.values())
    return measured and g["h100-nvl"]["weight"] > g["mi325x"]["weight"] > g["gaudi3"]["weight"]


async def test_weights_follow_capacity_and_a_slowed_replica_loses_then_regains_weight(setup) -> None:
    log: JsonLines = setup["log"]
    stop = asyncio.Event()
    load = asyncio.create_task(_load(setup["gateway"], stop))
    try:
        # 1. settle: three consecutive rounds in the order of the profiles' capacities
        streak = 0
        for _ in range(40):
            line = await log.next(timeout_s=10 * INTERVAL_S)
            streak = streak + 1 if _ordered(line) else 0
            if streak >= 3:
                break
        assert streak >= 3, f"weights never settled in capacity order: {line}"
        settled = [(await log.next(timeout_s=10 * INTERVAL_S))["groups"]["mi325x"]["weight"] for _ in range(3)]
        before = sum(settled) / len(settled)

        # 2. slow the mi325x replica 2x: its weight drops within 2 intervals
        async with httpx.AsyncClient() as http:
            r = await http.post(setup["sims"]["mi325x"] + "/admin/config", json={"slowdown": 2.0})
            assert r.status_code == 200
        log.skip()  # a round that scraped before the change does not count
        slowed = [(await log.next(timeout_s=10 * INTERVAL_S))["groups"]["mi325x"]["weight"] for _ in range(2)]
        assert min(slowed) < 0.85 * before, f"weight {before:.3f} -> {slowed} after a 2x slowdown"
        for _ in range(4):
            slowed.append((await log.next(timeout_s=10 * INTERVAL_S))["groups"]["mi325x"]["weight"])
        low = min(slowed)
        assert low < 0.8 * before

        # 3. restore it: the weight recovers
        async with httpx.AsyncClient() as http:
            await http.post(setup["sims"]["mi325x"] + "/admin/config", json={"slowdown": 1.0})
        recovered = [(await log.next(timeout_s=10 * INTERVAL_S))["groups"]["mi325x"]["weight"] for _ in range(12)]
        assert max(recovered) > 0.9 * before, f"weight {before:.3f} -> {low:.3f} -> {recovered}"
    finally:
        stop.set()
        served = await asyncio.wait_for(load, 60)
    assert served > 0
    entries = yaml.safe_load(setup["out"].read_text())
    assert {e["url"] for e in entries} == set(setup["sims"].values())
    assert all(e["capacity"] > 0 and e["capacityMultiplier"] > 0 for e in entries)
