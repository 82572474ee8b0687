from collections.abc import Sequence

import pytest

from heteropool.fleet.report import summarize
from heteropool.fleet.simulation import FleetSimulation, ReplicaSpec, StageRecord
from heteropool.fleet.workloads import LoadStage, SharedPrefixWorkload, WorkItem, build_stage_items
from heteropool.routing import EndpointView, NoEndpointError, RouteRequest
from heteropool.sim.profiles import build_profile

from .conftest import FakePrefixAffinity, FakeRoundRobin, RefuseAll


def _fleet(router: FakeRoundRobin, n: int = 3, **kw: object) -> FleetSimulation:
    reps = [ReplicaSpec(f"p{i}", build_profile("h100-nvl"), num_gpu_blocks=4000) for i in range(n)]
    return FleetSimulation(reps, router, **kw)  # type: ignore[arg-type]


def _stages(qps: float = 8.0, duration: float = 5.0, seed: int = 0) -> list[tuple[float, Sequence[WorkItem]]]:
    wl = SharedPrefixWorkload(
        groups=5, prompts_per_group=3, system_prompt_len=800, question_len=100, output_len=40, seed=seed
    )
    stages = [LoadStage(qps, duration)]
    return [(s.qps, items) for s, items in zip(stages, build_stage_items(wl, stages, seed), strict=True)]


def _fingerprint(records: list[StageRecord]) -> list[tuple[object, ...]]:
    return [(r.request_id, r.endpoint, r.ttft_s, r.finish_s, r.output_tokens) for s in records for r in s.requests]


def test_every_request_completes_with_its_tokens() -> None:
    router = FakeRoundRobin()
    (stage,) = _fleet(router).run(_stages())
    assert stage.requests and all(r.output_tokens == 40 and r.error is None for r in stage.requests)
    assert all(r.ttft_s is not None and r.ttft_s > 0 for r in stage.requests)
    assert len(router.finished) == len(stage.requests) and all(ok for *_, ok in router.finished)


def test_same_inputs_give_identical_results() -> None:
    assert _fingerprint(_fleet(FakeRoundRobin()).run(_stages())) == _fingerprint(
        _fleet(FakeRoundRobin()).run(_stages())
    )


def test_router_sees_own_counts_live_and_engine_state_only_from_scrapes() -> None:
    router = FakeRoundRobin()
    _fleet(router, scrape_interval_s=1000.0).run(_stages(qps=20))
    first, later = router.seen[0], router.seen[-1]
    assert all(v.num_running == 0 and v.in_flight == 0 for v in first)
    assert sum(v.in_flight for v in later) > 0
    assert all(v.num_running == 0 for v in later)  # no scrape since the stage started


def test_fresh_scrapes_show_running_requests() -> None:
    router = FakeRoundRobin()
    _fleet(router, scrape_interval_s=0.1).run(_stages(qps=20))
    assert any((v.num_running or 0) > 0 and (v.kv_cache_usage or 0) > 0 for views in router.seen for v in views)


def test_prefix_affinity_caches_more_than_round_robin() -> None:
    rr = summarize(_fleet(FakeRoundRobin(), n=4).run(_stages(qps=10, duration=10))[0], {})
    affine = summarize(_fleet(FakePrefixAffinity(), n=4).run(_stages(qps=10, duration=10))[0], {})
    assert affine.cached_fraction > rr.cached_fraction + 0.1


def test_refused_requests_wait_then_are_rejected_not_hung() -> None:
    (stage,) = _fleet(RefuseAll(), queue_wait_s=1.0).run(_stages())
    summary = summarize(stage, {})
    assert summary.failures == len(stage.requests) == summary.rejected and summary.completed == 0
    assert {r.error for r in stage.requests} == {"queue-timeout"}
    last_arrival = max(r.arrival_s for r in stage.requests)
    assert last_arrival + 1.0 <= stage.end_s <= last_arrival + 1.5  # rejected once it waited the bound


def test_without_a_wait_queue_refused_requests_are_rejected_at_once() -> None:
    (stage,) = _fleet(RefuseAll(), queue_wait_s=0.0).run(_stages())
    assert {r.error for r in stage.requests} == {"saturated"}
    assert summarize(stage, {}).rejected == len(stage.requests)


class Gate(FakeRoundRobin):
    """Saturated (every pick refused) until opened."""

    name = "gate"
    open = False

    def pick(self, request: RouteRequest, endpoints: Sequence[EndpointView]) -> str:
        if not self.open:
            raise NoEndpointError("saturated", saturated=True)
        return super().pick(request, endpoints)


def test_saturated_requests_wait_in_priority_order_and_count_the_wait_in_ttft() -> None:
    router = Gate()
    items = [
        WorkItem(0.01 * i, f"r{i}", (" a" * 50,), " a" * 50, 4, priority=p)
        for i, p in enumerate([-1, -1, 1, -1, 1, 0, 0])
    ]
    sim = _fleet(router, on_scrape=lambda t: setattr(router, "open", t >= 0.1))
    (stage,) = sim.run([(1.0, items)])
    assert all(r.error is None for r in stage.requests)
    placed = [rid for rid, _ in router.routed]
    # highest priority first, arrival order within a priority
    assert placed == ["r2", "r4", "r5", "r6", "r0", "r1", "r3"]
    assert all(r.ttft_s is not None and r.ttft_s > 0.2 - r.arrival_s for r in stage.requests)


def test_ignore_priority_routes_at_the_default_but_keeps_the_class() -> None:
    router = FakeRoundRobin()
    items = [WorkItem(0.1 * i, f"r{i}", (" a" * 20,), " a" * 20, 4, priority=1 - i % 3) for i in range(6)]
    (stage,) = _fleet(router, ignore_priority=True).run([(1.0, items)])
    assert {r.priority for r in router.requests} == {0}
    assert {r.priority for r in stage.requests} == {1, 0, -1}


def test_slowed_replica_takes_longer() -> None:
    reps = [
        ReplicaSpec("fast", build_profile("h100-nvl")),
        ReplicaSpec("slow", build_profile("h100-nvl"), slowdown=3.0),
    ]
    (stage,) = FleetSimulation(reps, FakeRoundRobin()).run(_stages(qps=2))
    e2e = {
        e: [r.finish_s - r.arrival_s for r in stage.requests if r.endpoint == e and r.finish_s]
        for e in ("fast", "slow")
    }
    assert sum(e2e["slow"]) / len(e2e["slow"]) > 2 * sum(e2e["fast"]) / len(e2e["fast"])


@pytest.mark.parametrize("bad", [[], "dup"], ids=["empty", "duplicate-ids"])
def test_bad_replica_lists_are_refused(bad: object) -> None:
    reps = [] if bad == [] else [ReplicaSpec("a", build_profile("cpu"))] * 2
    with pytest.raises(ValueError, match="replicas"):
        FleetSimulation(reps, FakeRoundRobin())


def test_slowdown_can_change_between_stages() -> None:
    sim = FleetSimulation([ReplicaSpec("only", build_profile("h100-nvl"))], FakeRoundRobin())
    before = summarize(sim.run(_stages(qps=2))[0], {})
    sim.set_slowdown("only", 2.0)
    after = summarize(sim.run(_stages(qps=2, seed=0))[0], {})
    assert after.itl_mean_s == pytest.approx(2 * before.itl_mean_s, rel=0.2)


def test_a_controller_in_the_loop_can_change_weights_at_scrapes() -> None:
    router = FakeRoundRobin()
    sim: FleetSimulation

    def controller(now_s: float) -> None:
        sim.set_routing("p0", capacity_multiplier=now_s, capacity_tokens_per_s=1000.0)

    sim = _fleet(router, scrape_interval_s=0.5, on_scrape=controller)
    sim.run(_stages())
    weights = [next(v.capacity_multiplier for v in views if v.id == "p0") for views in router.seen]
    assert weights[0] == 0.0 and weights[-1] is not None and weights[-1] > 1.0
    assert all(v.capacity_tokens_per_s == 1000.0 for views in router.seen for v in views if v.id == "p0")
    assert sim.vendors == {"p0": "nvidia", "p1": "nvidia", "p2": "nvidia"}


def test_routers_see_the_gateways_prompt_estimate_and_counters() -> None:
    router = FakeRoundRobin()
    _fleet(router, n=1).run(_stages(qps=100))
    assert all(r.prompt_tokens == len(r.prompt) // 4 for r in router.requests)  # the live estimate
    # queued prompt tokens: the estimates of requests routed but not yet answered, per endpoint
    estimates = {r.prompt_tokens for r in router.requests}
    queued = {v.queued_prompt_tokens for views in router.seen for v in views}
    assert queued & estimates and all(q >= 0 for q in queued)


def test_the_gateways_in_flight_cap_makes_excess_requests_wait_or_fail() -> None:
    (stage,) = _fleet(FakeRoundRobin(), n=1, max_in_flight_per_endpoint=2, queue_wait_s=0).run(_stages(qps=20))
    refused = [r.error for r in stage.requests]
    assert "saturated" in refused and refused.count(None) >= 2
    (stage,) = _fleet(FakeRoundRobin(), n=1, max_in_flight_per_endpoint=2).run(_stages(qps=20))
    waited = [r.error for r in stage.requests]
    assert set(waited) <= {None, "queue-timeout"} and waited.count(None) > refused.count(None)


def _overload() -> list[tuple[float, Sequence[WorkItem]]]:
    wl = SharedPrefixWorkload(
        groups=50, prompts_per_group=2, system_prompt_len=3000, question_len=500, output_len=200, seed=0
    )
    stages = [LoadStage(20, 5.0), LoadStage(20, 5.0)]
    return [(s.qps, items) for s, items in zip(stages, build_stage_items(wl, stages, 0), strict=True)]


def test_stages_on_the_clock_carry_backlog_over() -> None:
    drained = _fleet(FakeRoundRobin(), n=1).run(_overload())
    on_clock = _fleet(FakeRoundRobin(), n=1).run(_overload(), durations=[5.0, 5.0])
    assert drained[1].start_s >= drained[0].end_s  # inference-perf: the next stage waits
    assert on_clock[1].start_s == pytest.approx(5.0) and on_clock[1].start_s < on_clock[0].end_s  # backlog carries over
    ttft = [summarize(r, {}).ttft_mean_s for r in (drained[1], on_clock[1])]
    assert ttft[1] > 1.5 * ttft[0]
    with pytest.raises(ValueError, match="durations"):
        _fleet(FakeRoundRobin()).run(_overload(), durations=[5.0])
