"""fill-headroom-filter: low-priority work only where it will not delay latency-sensitive requests."""

from __future__ import annotations

from heteropool.scheduling.framework import CycleContext
from heteropool.scheduling.plugins.filters.fill_headroom import (
    FillHeadroomFilter,
    FillHeadroomParams,
    reserved_endpoints,
)

from ..conftest import make_request, make_view

H100, MI325X, GAUDI3 = 30_000.0, 4_700.0, 8_700.0


def _keep(views, prompt_tokens: int = 3000, **params) -> list[str]:  # type: ignore[no-untyped-def]
    f = FillHeadroomFilter(FillHeadroomParams(**params))
    return [e.id for e in f.filter(CycleContext(make_request("x" * prompt_tokens * 4)), views)]


def test_the_fastest_hardware_is_reserved_for_latency_sensitive_work() -> None:
    views = [
        make_view("h", prefill_tokens_per_s=H100),
        make_view("m", prefill_tokens_per_s=MI325X),
        make_view("g", prefill_tokens_per_s=GAUDI3),
    ]
    assert reserved_endpoints(views, 0.5) == {"h"}
    assert reserved_endpoints(views, 0.25) == {"h", "g"}


def test_a_reserved_endpoint_takes_low_priority_work_only_while_its_prefill_queue_is_short() -> None:
    idle = [make_view("h", prefill_tokens_per_s=H100), make_view("m", prefill_tokens_per_s=MI325X)]
    assert _keep(idle) == ["h", "m"]  # 3000 tokens: 0.1 s on the H100
    busy = [
        make_view("h", prefill_tokens_per_s=H100, queued_prefill_tokens=12_000),
        make_view("m", prefill_tokens_per_s=MI325X, queued_prefill_tokens=12_000),
    ]
    # 0.5 s of queue on the H100 is over its 0.4 s budget; 3.2 s on the MI325X is within its 10 s
    assert _keep(busy) == ["m"]


def test_nearly_full_kv_and_long_queues_everywhere_leave_no_endpoint() -> None:
    views = [
        make_view("h", prefill_tokens_per_s=H100, kv_cache_usage=0.95),
        make_view("m", prefill_tokens_per_s=MI325X, queued_prefill_tokens=60_000),
    ]
    assert _keep(views) == []
    assert _keep(views, kvLimit=1.0, waitSeconds=20) == ["h", "m"]


def test_without_prefill_rates_it_keeps_every_endpoint() -> None:
    views = [make_view("a"), make_view("b", kv_cache_usage=0.99)]
    assert _keep(views) == ["a", "b"]
