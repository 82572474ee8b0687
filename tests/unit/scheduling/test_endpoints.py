"""EndpointPool: membership, load accounting, saturation, ejection."""

from __future__ import annotations

from heteropool.routing import EndpointEntry
from heteropool.scheduling.endpoints import EndpointPool


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pool(clock: FakeClock, **kw: int | float) -> EndpointPool:
    pool = EndpointPool(clock=clock, **kw)  # type: ignore[arg-type]
    pool.apply(
        [
            EndpointEntry(url="http://a", group="nvidia", capacity=3600, block_size=16),
            EndpointEntry(url="http://b/", group="gaudi", block_size=128),
        ]
    )
    return pool


def test_apply_keeps_counters_of_staying_endpoints_and_updates_their_fields() -> None:
    pool = _pool(FakeClock())
    pool.acquire("http://a", 100)
    added, removed = pool.apply([EndpointEntry(url="http://a", group="nvidia", capacity=1800, capacity_multiplier=0.5)])
    assert (added, removed) == ([], ["http://b"])
    view = pool.get("http://a").view  # type: ignore[union-attr]
    assert (view.in_flight, view.capacity_tokens_per_s, view.capacity_multiplier, view.block_size) == (1, 1800, 0.5, 16)


def test_load_counters_follow_the_request_lifecycle() -> None:
    pool = _pool(FakeClock())
    pool.acquire("http://a", 100)
    assert pool.get("http://a").view.queued_prompt_tokens == 100  # type: ignore[union-attr]
    pool.first_token("http://a", 100)
    pool.release("http://a", 0)
    view = pool.get("http://a").view  # type: ignore[union-attr]
    assert (view.in_flight, view.queued_prompt_tokens) == (0, 0)


def test_queued_prefill_tokens_count_only_the_uncached_part_until_the_first_token() -> None:
    pool = _pool(FakeClock())
    pool.acquire("http://a", 1000, 200)  # 800 of the 1000 prompt tokens expected cached there
    pool.acquire("http://a", 500)  # no estimate: all of it
    view = pool.get("http://a").view  # type: ignore[union-attr]
    assert (view.queued_prompt_tokens, view.queued_prefill_tokens) == (1500, 700)
    pool.first_token("http://a", 1000, 200)
    pool.release("http://a", 500)  # ended before its first token
    view = pool.get("http://a").view  # type: ignore[union-attr]
    assert (view.in_flight, view.queued_prompt_tokens, view.queued_prefill_tokens) == (1, 0, 0)


def test_prefill_speed_from_the_endpoint_file_reaches_the_view() -> None:
    pool = EndpointPool(clock=FakeClock())
    pool.apply([EndpointEntry(url="http://a", group="nvidia", prefill_tokens_per_s=30000)])
    assert pool.get("http://a").view.prefill_tokens_per_s == 30000  # type: ignore[union-attr]


def test_endpoints_at_the_in_flight_cap_are_not_candidates() -> None:
    pool = _pool(FakeClock(), max_in_flight=1)
    pool.acquire("http://a", 1)
    views, full = pool.candidates()
    assert [v.id for v in views] == ["http://b"] and full


def test_failures_eject_for_a_while_and_a_probe_restores() -> None:
    clock = FakeClock()
    pool = _pool(clock, eject_after_failures=2, eject_s=5)
    assert not pool.failure("http://a")
    assert pool.failure("http://a")
    assert [v.id for v in pool.candidates()[0]] == ["http://b"]
    clock.now += 6
    assert pool.ejected() == []
    assert pool.failure("http://b", hard=True)
    pool.restore("http://b")
    assert pool.ejected() == [] and pool.ready()
