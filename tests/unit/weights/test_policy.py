"""The weight policy on synthetic metric streams (closed loop: traffic follows the shares)."""

from __future__ import annotations

import pytest

from heteropool.weights.capacity import apply_floor, damp_shares
from heteropool.weights.controller import WeightSettings


def _ratio(update, slow: str, fast: str) -> float:
    return update.endpoints[slow].share / update.endpoints[fast].share


def test_equal_pods_converge_to_equal_weights_from_unequal_priors(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(), "c": replica()}, priors={"a": 3000, "b": 1000, "c": 500})
    updates = pool.run(14)
    assert updates[0].shares == pytest.approx({"a": 2 / 3, "b": 2 / 9, "c": 1 / 9}, abs=1e-3)  # priors first
    assert updates[-1].shares == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, abs=0.01)


def test_pod_twice_as_slow_gets_half_the_weight_at_equal_load(make_pool, replica) -> None:
    pool = make_pool({"fast": replica(), "slow": replica(slowdown=2.0)})
    pool.pinned = {"fast": 40.0, "slow": 40.0}
    last = pool.run(10)[-1]
    assert _ratio(last, "slow", "fast") == pytest.approx(0.5, abs=0.02)


def test_pod_twice_as_slow_gets_about_half_the_weight_in_closed_loop(make_pool, replica) -> None:
    # With fewer sequences routed to it, each of its sequences runs a bit faster, so the
    # estimate at its own operating point is somewhat above half (never near equal).
    pool = make_pool({"fast": replica(), "slow": replica(slowdown=2.0)})
    last = pool.run(12)[-1]
    assert 0.45 <= _ratio(last, "slow", "fast") <= 0.65


def test_starved_pod_keeps_its_prior_based_weight(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(), "starved": replica()})
    pool.pinned = {"starved": 0.0}  # the gateway sends it nothing, whatever its weight
    for update in pool.run(12):
        assert update.endpoints["starved"].source == "prior"
        assert update.shares["starved"] >= 0.9 / 3
    assert update.shares["starved"] == pytest.approx(1 / 3, abs=0.02)


def test_starved_pod_regains_its_weight_after_being_judged_slow(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(), "c": replica(slowdown=4.0)})
    pool.run(8)
    judged = pool.last.shares["c"]
    assert judged < 0.2
    pool.replicas["c"].slowdown = 1.0
    pool.pinned = {"c": 0.0}  # restored, but it gets no traffic: no new evidence either way
    updates = pool.run(14)
    assert min(u.shares["c"] for u in updates) >= judged * 0.99  # never decays toward the floor
    assert updates[-1].shares["c"] == pytest.approx(1 / 3, abs=0.02)  # prior (all priors equal)


def test_step_change_moves_weight_within_two_intervals_without_overshoot(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(), "c": replica()})
    pool.pinned = {"a": 40.0, "b": 40.0, "c": 40.0}
    before = pool.run(8)[-1].shares["c"]
    pool.replicas["c"].slowdown = 2.0
    after = [u.shares["c"] for u in pool.run(12)]
    final = after[-1]
    assert before == pytest.approx(1 / 3, abs=0.01) and final == pytest.approx(0.2, abs=0.01)
    assert (before - after[1]) >= 0.75 * (before - final)  # most of the move within 2 intervals
    assert all(x >= final - 0.005 for x in after)  # no overshoot
    assert all(y <= x + 1e-9 for x, y in zip(after, after[1:], strict=False))  # monotone: no oscillation


def test_closed_loop_step_change_settles_without_oscillation(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(), "c": replica()})
    before = pool.run(8)[-1].shares["c"]
    pool.replicas["c"].slowdown = 2.0
    after = [u.shares["c"] for u in pool.run(12)]
    assert after[1] < before - 0.75 * (before - after[-1])
    swings = [y - x for x, y in zip(after, after[1:], strict=False)]
    assert sum(1 for s in swings if s > 0.005) == 0  # no rebound beyond noise


def test_weight_moves_at_most_max_step_per_interval(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(slowdown=8.0)}, max_step=0.25)
    updates = pool.run(10)
    for prev, cur in zip(updates, updates[1:], strict=False):
        for g, w in cur.shares.items():
            assert abs(w - prev.shares[g]) <= 0.25 * prev.shares[g] + 1e-9


def test_floor_keeps_a_very_slow_group_routable(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(slowdown=200.0)}, floor=0.05)
    assert pool.run(20)[-1].shares["b"] == pytest.approx(0.05, abs=1e-6)


def test_counter_reset_after_restart_keeps_estimate_and_never_goes_negative(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica()})
    steady = pool.run(8)[-1]
    pool.replicas["b"].restart()
    restart = pool.tick()
    assert restart.endpoints["b"].capacity_tokens_per_s == pytest.approx(steady.endpoints["b"].capacity_tokens_per_s)
    assert restart.endpoints["b"].observed_tokens_per_s is None  # no rate across the reset
    after = pool.run(4)
    assert all(u.endpoints["b"].observed_tokens_per_s > 0 for u in after)
    assert after[-1].shares == pytest.approx({"a": 0.5, "b": 0.5}, abs=0.01)


def test_static_mode_uses_the_spec_weights_and_still_estimates_capacity(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(slowdown=2.0)}, static_weights={"a": 1.0, "b": 3.0})
    last = pool.run(6)[-1]
    assert last.mode == "static"
    assert last.shares == pytest.approx({"a": 0.25, "b": 0.75})
    caps = {k: e.capacity_tokens_per_s for k, e in last.endpoints.items()}
    assert caps["b"] < 0.7 * caps["a"]
    assert all(e.observed_tokens_per_s > 0 for e in last.endpoints.values())


@pytest.mark.parametrize(
    ("previous", "target", "expected"),
    [
        ({"a": 0.5, "b": 0.5}, {"a": 0.9, "b": 0.1}, {"a": 0.625, "b": 0.375}),  # b may lose 25% of 0.5
        ({"a": 0.5, "b": 0.5}, {"a": 0.55, "b": 0.45}, {"a": 0.55, "b": 0.45}),
        ({"a": 1.0}, {"a": 0.5, "new": 0.5}, {"a": 0.5, "new": 0.5}),  # new group: nothing to damp from
        ({"a": 0.5, "gone": 0.5}, {"a": 1.0}, {"a": 1.0}),
    ],
    ids=["bounded", "small-move", "group-added", "group-removed"],
)
def test_damp_shares(previous, target, expected) -> None:
    assert damp_shares(previous, target, max_step=0.25) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("shares", "floor", "expected"),
    [
        ({"a": 0.99, "b": 0.01}, 0.05, {"a": 0.95, "b": 0.05}),
        ({"a": 0.9, "b": 0.09, "c": 0.01}, 0.05, {"a": 0.9 * 0.95 / 0.99, "b": 0.09 * 0.95 / 0.99, "c": 0.05}),
        ({"a": 0.6, "b": 0.4}, 0.05, {"a": 0.6, "b": 0.4}),
    ],
    ids=["one-pinned", "proportional-rest", "untouched"],
)
def test_apply_floor(shares, floor, expected) -> None:
    assert apply_floor(shares, floor) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("field", "value"),
    [("interval_s", 0), ("floor", 0.5), ("max_step", 0), ("smoothing", 1.5), ("static_weights", {})],
)
def test_settings_reject_bad_values_naming_the_field(field, value) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        WeightSettings(**{field: value})


def test_settings_derive_timeouts_from_the_interval() -> None:
    s = WeightSettings(interval_s=4.0)
    assert (s.stale_after_s, s.prior_after_s, s.timeout_s) == (10.0, 32.0, 2.0)


def test_decode_and_prefill_speeds_are_reported(make_pool, replica) -> None:
    from heteropool.vllm_metrics import EngineSample, HistogramTotals
    from heteropool.weights.capacity import measure_interval

    prev = EngineSample(  # the same series as `cur`, all at zero
        **dict.fromkeys(("generation_tokens_total", "prompt_tokens_total", "prefix_cache_hits_total"), 0.0),
        **dict.fromkeys(("inter_token_latency", "prefill_time", "e2e_latency"), HistogramTotals(0.0, 0.0)),
    )
    cur = EngineSample(
        generation_tokens_total=1000.0,
        prompt_tokens_total=4000.0,
        prefix_cache_hits_total=3000.0,
        inter_token_latency=HistogramTotals(20.0, 1000.0),
        prefill_time=HistogramTotals(0.5, 10.0),
        e2e_latency=HistogramTotals(30.0, 10.0),
    )
    rates = measure_interval(prev, cur, 10.0)
    assert rates.decode_tokens_per_s_per_seq == 50.0 and rates.mean_decode_batch == 2.0
    assert rates.prefill_tokens_per_s_per_seq == 2000.0  # 1000 uncached tokens in 0.5 s of prefill
    assert rates.mean_context_tokens == 450.0  # (4000 + 1000 / 2) / 10 requests
    pool = make_pool({"a": replica()})
    last = pool.run(3)[-1].endpoints["a"]
    assert last.decode_tokens_per_s_per_seq > 0 and last.utilization > 0
    assert last.prefill_tokens_per_s_per_seq == pytest.approx(20_000.0)  # uncached prompt tokens / prefill time
