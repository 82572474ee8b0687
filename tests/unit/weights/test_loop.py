"""WeightLoop.run_once through httpx.MockTransport: concurrency, timeouts, errors, membership."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import httpx
import pytest

import heteropool
from heteropool.routing_document import entries_from_update
from heteropool.timestamps import rfc3339
from heteropool.weights.controller import WeightSettings
from heteropool.weights.loop import WeightLoop, scrape_metrics


def _text(gen: float, itl_sum: float, itl_count: float) -> str:
    return (
        "# TYPE vllm:generation_tokens counter\n"
        f'vllm:generation_tokens_total{{model_name="m",engine="0"}} {gen}\n'
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{model_name="m",engine="0"} 8.0\n'
        "# TYPE vllm:inter_token_latency_seconds histogram\n"
        f'vllm:inter_token_latency_seconds_sum{{model_name="m",engine="0"}} {itl_sum}\n'
        f'vllm:inter_token_latency_seconds_count{{model_name="m",engine="0"}} {itl_count}\n'
        'vllm:cache_config_info{block_size="16",num_gpu_blocks="100",engine="0"} 1.0\n'
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_scrapes_concurrently_and_reports_failures_without_raising(make_target, clock) -> None:
    in_flight = 0
    peak = 0
    calls = {"ok": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)  # let the other scrapes start
        in_flight -= 1
        host = request.url.host
        if host == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if host == "broken":
            return httpx.Response(500, text="oops")
        if host == "html":
            return httpx.Response(200, text="<html></html>")
        calls["ok"] += 1
        n = calls["ok"]
        return httpx.Response(200, text=_text(1000.0 * n, 0.01 * 1000 * n, 1000.0 * n))

    targets = [make_target(n) for n in ("ok1", "ok2", "down", "broken", "html")]
    loop = WeightLoop(WeightSettings(interval_s=1.0), clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        update = await loop.run_once(targets, http)
    assert peak == len(targets)
    assert set(update.scrape_errors) == {"down", "broken", "html"}
    assert "ConnectError" in update.scrape_errors["down"]
    assert "HTTP 500" in update.scrape_errors["broken"]
    assert "not Prometheus text format" in update.scrape_errors["html"]
    assert update.endpoints["ok1"].block_size == 16 and update.endpoints["ok1"].kv_capacity_tokens == 1600
    assert sum(update.shares.values()) == pytest.approx(1.0)
    assert all(w > 0 for w in update.shares.values())  # never zero a vendor on a failed scrape


async def test_slow_replica_times_out_with_a_tiny_timeout(make_target, clock) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow":
            await asyncio.sleep(30)
        return httpx.Response(200, text=_text(1.0, 0.01, 1.0))

    loop = WeightLoop(WeightSettings(interval_s=1.0, timeout_s=0.01), clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        update = await asyncio.wait_for(loop.run_once([make_target("slow"), make_target("fast")], http), 5)
    assert update.scrape_errors == {"slow": "GET http://slow:8000/metrics: no answer within 0.01 s"}


async def test_measures_capacity_across_calls_and_follows_membership(make_target, clock) -> None:
    state = {"gen": 0.0}

    async def handler(request: httpx.Request) -> httpx.Response:
        g = state["gen"]
        return httpx.Response(200, text=_text(g, g * 0.02, g))  # 50 tokens/s per sequence

    loop = WeightLoop(WeightSettings(interval_s=1.0), clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        first = await loop.run_once([make_target("a")], http)
        state["gen"] = 400.0
        clock.now += 1.0
        second = await loop.run_once([make_target("a"), make_target("b")], http)
    assert first.endpoints["a"].source == "prior"
    a = second.endpoints["a"]
    assert a.source == "measured" and a.observed_tokens_per_s == pytest.approx(400.0)
    # 8 sequences at 50 tokens/s ran; it can hold min(256, 1600 KV tokens / context) -> at least 8
    assert a.capacity_tokens_per_s >= 400.0
    assert second.endpoints["b"].source == "prior" and loop.last is second


def test_endpoint_entries_route_by_share(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(slowdown=200.0)}, floor=0.1)
    update = pool.run(20)[-1]
    entries = {e.url: e for e in entries_from_update(update)}
    eff = {u: e.capacity * e.capacity_multiplier for u, e in entries.items()}
    total = sum(eff.values())
    assert eff["http://b:8000"] / total == pytest.approx(0.1, abs=0.002)  # the floor, through capacity x weight
    assert entries["http://a:8000"].group == "a" and entries["http://a:8000"].block_size == 16
    assert entries["http://a:8000"].prefill_tokens_per_s == 20_000.0  # measured prefill speed reaches the endpoint file


def test_rfc3339() -> None:
    assert rfc3339(0.0) == "1970-01-01T00:00:00Z" and rfc3339(None) is None


async def test_scrape_metrics_refuses_non_200(clock) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(404))) as http:
        with pytest.raises(Exception, match="HTTP 404"):
            await scrape_metrics(http, "http://x:1/", 1.0)


@pytest.mark.parametrize("module", ["vllm_metrics.py", "weights/controller.py", "weights/capacity.py"])
def test_policy_modules_stay_pure(module: str) -> None:
    tree = ast.parse((Path(heteropool.__file__).parent / module).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    forbidden = {"httpx", "aiohttp", "kopf", "kubernetes", "asyncio", "heteropool.handlers.kube", "heteropool.handlers"}
    assert not {m for m in imported if m.split(".")[0] in forbidden or m in forbidden}


async def test_no_targets_gives_an_empty_update(clock) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as http:
        update = await WeightLoop(WeightSettings(interval_s=1.0), clock=clock).run_once([], http)
    assert update.groups == {} and update.endpoints == {} and not update.stale


async def test_cancelling_a_round_leaves_the_state_as_it_was(make_target, clock) -> None:
    gate = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, text=_text(1.0, 0.01, 1.0))

    loop = WeightLoop(WeightSettings(interval_s=1.0, timeout_s=30.0), clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        task = asyncio.create_task(loop.run_once([make_target("a")], http))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.last is None
        gate.set()
        update = await loop.run_once([make_target("a")], http)
    assert update.generation == 1 and update.endpoints["a"].last_scrape_at == clock.now


def test_weights_command_refuses_to_overwrite_its_input(tmp_path: Path, capsys) -> None:
    from heteropool.cli import main

    path = tmp_path / "e.yaml"
    path.write_text("[]")
    assert main(["weights", "--endpoints", str(path), "--write", str(path)]) == 2
    assert "--write must differ from --endpoints" in capsys.readouterr().err


def test_weights_command_rejects_bad_settings_naming_them(tmp_path: Path, capsys) -> None:
    from heteropool.cli import main

    src = tmp_path / "in.yaml"
    src.write_text("[]")
    assert main(["weights", "--endpoints", str(src), "--write", str(tmp_path / "o.yaml"), "--floor", "0.7"]) == 2
    assert "floor: must be in [0, 0.5)" in capsys.readouterr().err


def test_weights_command_runs_rounds_over_an_empty_file(tmp_path: Path, capsys) -> None:
    from heteropool.cli import main

    src, out = tmp_path / "in.yaml", tmp_path / "out.yaml"
    src.write_text("[]")
    assert (
        main(["weights", "--endpoints", str(src), "--write", str(out), "--interval", "0.01", "--iterations", "2"]) == 0
    )
    assert out.read_text() == "[]\n"
    assert capsys.readouterr().out.count('"event": "weights"') == 2
