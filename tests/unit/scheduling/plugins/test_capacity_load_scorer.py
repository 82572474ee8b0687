"""capacity-load-scorer: capacity-normalised load with a spill band."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext
from heteropool.scheduling.plugins.scorers.capacity_load import (
    CapacityLoadParams,
    CapacityLoadScorer,
    relative_capacities,
)

from ..conftest import make_request, make_view


@pytest.mark.parametrize(
    ("endpoints", "expected"),
    [
        ([("a", None, None), ("b", None, None)], {"a": 1.0, "b": 1.0}),
        ([("a", 3600.0, None), ("b", 600.0, None)], {"a": 1.0, "b": 600 / 3600}),
        ([("a", 3600.0, None), ("b", None, None)], {"a": 1.0, "b": 1.0}),
        ([("a", 1000.0, 0.5), ("b", 1000.0, 1.0)], {"a": 0.5, "b": 1.0}),
        ([("a", 1000.0, 0.0), ("b", 1000.0, 0.0)], {"a": 1.0, "b": 1.0}),
    ],
    ids=["unknown", "h100-vs-gaudi", "unknown-gets-mean", "weight-scales", "all-zero-weight"],
)
def test_relative_capacities(
    endpoints: list[tuple[str, float | None, float | None]], expected: dict[str, float]
) -> None:
    views = [make_view(i, capacity_tokens_per_s=c, capacity_multiplier=w) for i, c, w in endpoints]
    assert relative_capacities(views) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("loads", "caps", "expected"),
    [
        ({"a": 0, "b": 0}, {"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 1.0}),
        # u = (load+1)/c: a=1, b=17 -> band 16 + 0.5*1 = 16.5 -> b = 1 - 16/16.5
        ({"a": 0, "b": 16}, {"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 1 - 16 / 16.5}),
        ({"a": 0, "b": 100}, {"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 0.0}),
        # gaudi at 1/6 capacity with 2 in flight: u = 18 vs h100 with 5: u = 6 -> band 19
        ({"h": 5, "g": 2}, {"h": 3600.0, "g": 600.0}, {"h": 1.0, "g": 1 - 12 / 19}),
    ],
    ids=["idle", "inside-band", "beyond-band", "capacity-normalised"],
)
def test_scores(loads: dict[str, int], caps: dict[str, float], expected: dict[str, float]) -> None:
    scorer = CapacityLoadScorer(CapacityLoadParams())
    views = [make_view(k, in_flight=v, capacity_tokens_per_s=caps[k]) for k, v in loads.items()]
    assert scorer.score(CycleContext(make_request()), views) == pytest.approx(expected)


def test_scraped_load_counts_when_higher_than_the_gateways_own() -> None:
    scorer = CapacityLoadScorer(CapacityLoadParams(spillAbs=10, spillRel=0))
    views = [make_view("a", in_flight=0, num_running=5, num_waiting=5), make_view("b", in_flight=0)]
    assert scorer.score(CycleContext(make_request()), views) == pytest.approx({"a": 0.0, "b": 1.0})


def test_queued_prompt_tokens_count_as_load() -> None:
    scorer = CapacityLoadScorer(CapacityLoadParams(spillAbs=10, spillRel=0, queuedTokensPerRequest=1000))
    views = [make_view("a", in_flight=1, queued_prompt_tokens=5000), make_view("b", in_flight=1)]
    # a: (1 + 5 + 1) = 7, b: 2 -> a = 1 - 5/10
    assert scorer.score(CycleContext(make_request()), views) == pytest.approx({"a": 0.5, "b": 1.0})


def test_a_replica_running_out_of_kv_looks_busier_while_another_has_headroom() -> None:
    scorer = CapacityLoadScorer(CapacityLoadParams(spillAbs=10, spillRel=0, kvSpill=0.9))
    views = [make_view("full", in_flight=1, kv_cache_usage=0.95), make_view("roomy", in_flight=1, kv_cache_usage=0.3)]
    # full: headroom (1 - 0.95) / (1 - 0.9) = 0.5 -> u = 2 / 0.5 = 4 vs roomy 2 -> 1 - 2/10
    assert scorer.score(CycleContext(make_request()), views) == pytest.approx({"full": 0.8, "roomy": 1.0})
    views[0] = make_view("full", in_flight=1, kv_cache_usage=1.0)
    assert scorer.score(CycleContext(make_request()), views)["full"] == 0.0


def test_kv_rule_is_off_when_every_replica_is_near_full_or_turned_off() -> None:
    crowded = [make_view("a", in_flight=1, kv_cache_usage=0.97), make_view("b", in_flight=1, kv_cache_usage=0.6)]
    assert CapacityLoadScorer(CapacityLoadParams(kvSpill=0.9)).score(CycleContext(make_request()), crowded) == {
        "a": 1.0,
        "b": 1.0,
    }
    roomy = [crowded[0], make_view("b", in_flight=1, kv_cache_usage=0.1)]
    assert CapacityLoadScorer(CapacityLoadParams(kvSpill=1.0)).score(CycleContext(make_request()), roomy) == {
        "a": 1.0,
        "b": 1.0,
    }
