"""WeightController bookkeeping: scrape failures and staleness, membership, publishing and Events."""

from __future__ import annotations

import pytest

from heteropool.vllm_metrics import ScrapeError
from heteropool.weights.capacity import prior_from_name
from heteropool.weights.controller import WeightController, WeightSettings


def test_one_failed_scrape_keeps_the_estimate_and_is_not_stale(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica()})
    steady = pool.run(6)[-1]
    pool.failing = {"b"}
    update = pool.tick()
    b = update.endpoints["b"]
    assert not b.stale and b.source == "measured"
    assert b.capacity_tokens_per_s == steady.endpoints["b"].capacity_tokens_per_s
    assert update.scrape_errors == {"b": "GET http://b:8000/metrics: ConnectError"}
    assert b.scrape_errors_total == 1 and update.shares["b"] == pytest.approx(steady.shares["b"], abs=0.01)


def test_failing_scrapes_mark_stale_then_fall_back_to_the_prior_never_zero(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(slowdown=3.0)}, priors={"a": 1000.0, "b": 1000.0})
    pool.run(8)
    judged = pool.last.shares["b"]
    pool.failing = {"b"}
    updates = pool.run(10)  # stale after 2.5 intervals, prior after 8
    stale = [u.endpoints["b"].stale for u in updates]
    assert stale[:2] == [False, False] and all(stale[2:])
    assert updates[2].changed and updates[2].stale
    assert "1 of 2 replicas are stale" in updates[2].stale_message and "ConnectError" in updates[2].stale_message
    sources = [u.endpoints["b"].source for u in updates]
    assert sources[6] == "measured" and sources[-1] == "prior"
    assert min(u.shares["b"] for u in updates) >= judged * 0.99
    assert updates[-1].shares["b"] > judged  # back toward the equal prior
    pool.failing = set()
    assert not pool.tick().stale


def test_new_replica_starts_from_its_scaled_prior_and_removed_one_is_forgotten(make_pool, replica, make_target) -> None:
    pool = make_pool({"a": replica(), "b": replica()}, priors={"a": 1000.0, "b": 1000.0})
    steady = pool.run(6)[-1]
    pool.replicas["c"] = replica()
    pool.targets.append(make_target("c", prior=500.0))
    added = pool.tick()
    c = added.endpoints["c"]
    assert c.source == "prior" and c.last_scrape_at == pool.now
    # prior in the units the measured replicas show: half of theirs
    assert c.capacity_tokens_per_s == pytest.approx(steady.endpoints["a"].capacity_tokens_per_s / 2, rel=0.05)
    assert added.changed and set(added.groups) == {"a", "b", "c"}
    pool.targets = [t for t in pool.targets if t.endpoint_id != "a"]
    removed = pool.tick()
    assert set(removed.endpoints) == {"b", "c"} and sum(removed.shares.values()) == pytest.approx(1.0)


def test_group_aggregates_replicas_and_shares_follow_capacity(make_target) -> None:
    from heteropool.vllm_metrics import EngineSample

    controller = WeightController(WeightSettings(interval_s=10.0))
    targets = [
        make_target("h1", 3600.0, "nvidia"),
        make_target("h2", 3600.0, "nvidia"),
        make_target("g1", 600.0, "gaudi"),
    ]
    update = controller.update(
        targets, {t.endpoint_id: EngineSample(generation_tokens_total=0.0) for t in targets}, 0.0
    )
    assert update.shares == pytest.approx({"nvidia": 7200 / 7800, "gaudi": 600 / 7800})
    nv = update.groups["nvidia"]
    assert (nv.ready_replicas, nv.capacity_tokens_per_s, nv.stale, nv.last_scrape_at) == (2, 3600.0, False, 0.0)
    assert update.endpoints["h1"].share == pytest.approx(3600 / 7800)
    assert update.endpoints["h1"].capacity_multiplier == pytest.approx(1.0)
    assert sum(e.share for e in update.endpoints.values()) == pytest.approx(1.0)


def test_steady_state_is_not_republished(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica()})
    updates = pool.run(12)
    assert updates[0].changed and updates[0].generation == 1
    assert not any(u.changed for u in updates[-4:])
    assert len({u.generation for u in updates[-4:]}) == 1


def test_mark_unpublished_forces_the_next_update(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica()})
    last = pool.run(12)[-1]
    pool.controller.mark_unpublished()
    again = pool.tick()
    assert again.changed and again.generation == last.generation + 1


def test_large_moves_are_reported_once_per_move(make_pool, replica) -> None:
    pool = make_pool({"a": replica(), "b": replica(), "c": replica()}, event_fraction=0.2)
    pool.pinned = {"a": 40.0, "b": 40.0, "c": 40.0}
    pool.run(8)
    pool.replicas["c"].slowdown = 3.0
    moves = [m for u in pool.run(10) for m in u.moved if m.group == "c"]
    assert moves and all(m.new < m.old * 0.8 for m in moves)
    assert len(moves) <= 3


def test_scrape_error_for_a_never_scraped_replica_is_stale_at_once(make_target) -> None:
    controller = WeightController(WeightSettings(interval_s=10.0))
    t = make_target("x")
    update = controller.update([t], {"x": ScrapeError("GET http://x:8000/metrics: HTTP 503")}, 5.0)
    assert update.endpoints["x"].stale and update.shares == {"x": 1.0}
    assert update.endpoints["x"].last_scrape_at is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nvidia", 1600.0),
        ("amd", 1700.0),
        ("intel-gaudi", 630.0),
        ("gaudi", 630.0),
        ("h100-sxm", 1800.0),
        ("gaudi3", 630.0),
        ("sim-mi325x", 2100.0),
        ("sim-h100", 1600.0),
        ("mystery", None),
        ("sim", None),
    ],
)
def test_prior_from_name(name: str, expected: float | None) -> None:
    assert prior_from_name(name) == expected


def test_settings_from_the_pool_spec() -> None:
    from heteropool.api import WeightsSpec

    auto = WeightSettings.from_spec(WeightsSpec.model_validate({"interval": "5s", "floor": 0.05, "maxStep": 0.5}))
    assert (auto.interval_s, auto.floor, auto.max_step, auto.mode) == (5.0, 0.05, 0.5, "auto")
    static = WeightSettings.from_spec(
        WeightsSpec.model_validate({"mode": "static", "static": {"a": 1, "b": 3}}), timeout_s=1.0
    )
    assert static.static_weights == {"a": 1, "b": 3} and static.timeout_s == 1.0 and static.interval_s == 15.0


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ({"vendor": "nvidia"}, 1600.0),
        ({"vendor": "amd", "accelerator": "mi325x"}, 2100.0),
        ({"vendor": "intel-gaudi", "acceleratorsPerReplica": 2}, 630.0 * 1.7),
        ({"vendor": "sim"}, 60.0),
    ],
    ids=["nvidia-default", "amd-mi325x", "gaudi-tp2", "sim-cpu"],
)
def test_group_prior(group, expected) -> None:
    from heteropool.api import VendorGroup
    from heteropool.weights.controller import group_prior_tokens_per_s

    assert group_prior_tokens_per_s(VendorGroup.model_validate(group)) == pytest.approx(expected)
