"""The heteropool policy's priority tiers: latency-sensitive to the lowest expected TTFT, low
priority to spare capacity (or saturated), priority 0 as before."""

from __future__ import annotations

import pytest

from heteropool.routing import NoEndpointError
from heteropool.scheduling.errors import ConfigError
from heteropool.scheduling.policies import build_router

from .conftest import make_request, make_view

H100, MI325X = 30_000.0, 4_700.0


def _pool(h_queue: int = 0, m_queue: int = 0, **h: object):  # type: ignore[no-untyped-def]
    return [
        make_view("h", prefill_tokens_per_s=H100, capacity_tokens_per_s=3600.0, queued_prefill_tokens=h_queue, **h),
        make_view(
            "m", group="amd", prefill_tokens_per_s=MI325X, capacity_tokens_per_s=2100.0, queued_prefill_tokens=m_queue
        ),
    ]


def test_high_priority_goes_where_its_first_token_comes_soonest() -> None:
    router = build_router("heteropool")
    # 6000 queued tokens: 0.2 s on the H100; the idle MI325X needs 0.64 s for this prompt alone
    views = _pool(h_queue=6000, in_flight=4)
    assert router.pick(make_request("x" * 12_000, priority=5), views) == "h"


def test_low_priority_fills_slower_hardware_and_leaves_a_busy_fast_replica_alone() -> None:
    router = build_router("heteropool")
    views = _pool(h_queue=15_000)  # 0.5 s of queue on the reserved H100
    for i in range(5):
        assert router.pick(make_request("x" * 12_000, request_id=f"r{i}", priority=-1), views) == "m"


def test_low_priority_is_saturated_when_nothing_has_headroom_but_high_priority_is_not() -> None:
    router = build_router("heteropool")
    views = _pool(h_queue=15_000, m_queue=60_000)
    with pytest.raises(NoEndpointError) as err:
        router.pick(make_request("x" * 12_000, request_id="low", priority=-1), views)
    assert err.value.saturated
    assert router.pick(make_request("x" * 12_000, request_id="high", priority=1), views) == "h"
    assert router.pick(make_request("x" * 12_000, request_id="std"), views) in {"h", "m"}


def test_tiers_share_one_prefix_index() -> None:
    router = build_router("heteropool")
    views = _pool()
    doc = "y" * 40_000
    low = make_request(doc, request_id="low", priority=-1)
    first = router.pick(low, views)
    router.on_routed(low, first)
    high = make_request(doc + "question", request_id="high", priority=1)
    router.pick(high, views)
    assert router.prefix_share(high, first) == pytest.approx(len(doc) / len(high.prompt), abs=0.01)


def test_tier_parameters_and_weights_are_overridable_by_name() -> None:
    router = build_router(
        "heteropool",
        parameters={"fill-headroom-filter": {"reservedWaitSeconds": 1.0}, "weights": {"fill/spare-hardware-scorer": 0}},
    )
    views = _pool(h_queue=15_000)  # 0.5 s of queue is now within the H100's budget
    picks = {router.pick(make_request("x" * 12_000, request_id=f"r{i}", priority=-1), views) for i in range(20)}
    assert "h" in picks
    with pytest.raises(ConfigError, match="weights.latency/spare-hardware-scorer"):
        build_router("heteropool", parameters={"weights": {"latency/spare-hardware-scorer": 1}})
