"""Request priorities in the Endpoint Picker: objectives, waiting for an endpoint, 429s, metrics."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import generate_latest

from heteropool.epp.picker import EndpointPicker, PickError, Saturated
from heteropool.routing import EndpointEntry, ObjectivesRouting, RoutingConfig

from .test_picker import BODY, make_picker

D = "http://10.0.0.4:8000"
OBJECTIVES = ObjectivesRouting(defaultPriority=0, priorities={"chat": 10, "batch": -1})


def test_the_objective_header_gives_the_priority_and_cluster_objectives_win() -> None:
    picker = make_picker()
    picker.apply_routing_config(RoutingConfig(pool="p", model="m", policy="least-request", objectives=OBJECTIVES))
    assert picker.priority_of("chat") == (10, "chat")
    assert picker.priority_of("batch") == (-1, "batch")
    assert picker.priority_of(None) == (0, "default")
    assert picker.priority_of("unheard-of") == (0, "default")  # an arbitrary header value is not a label
    picker.apply_cluster_objectives({"chat": 3, "reports": -5})
    assert picker.priority_of("chat") == (3, "chat") and picker.priority_of("reports") == (-5, "reports")
    assert picker.priority_of("batch") == (-1, "batch")  # not in the cluster: the spec's still counts
    picker.apply_cluster_objectives(None)
    assert picker.priority_of("chat") == (10, "chat")
    d = picker.pick("/v1/completions", BODY, objective="chat")
    assert (d.request.priority, d.objective) == (10, "chat")


def _full(picker: EndpointPicker) -> list:  # type: ignore[type-arg]
    return [picker.pick("/v1/completions", BODY) for _ in range(3)]


async def _saturated(picker: EndpointPicker, objective: str | None) -> asyncio.Task:  # type: ignore[type-arg]
    with pytest.raises(Saturated) as err:
        picker.pick("/v1/completions", BODY, objective=objective)
    task = asyncio.create_task(picker.wait(err.value))
    await asyncio.sleep(0)  # let it join the queue
    return task


async def test_waiting_requests_are_placed_highest_priority_first_as_endpoints_free_up() -> None:
    picker = make_picker(max_in_flight=1, objectives=OBJECTIVES)
    running = _full(picker)
    batch = await _saturated(picker, "batch")
    std = await _saturated(picker, None)
    chat = await _saturated(picker, "chat")
    assert picker.waiting == 3
    picker.finished(running[0])  # one endpoint frees up: the chat request takes it
    assert (await asyncio.wait_for(chat, 1.0)).objective == "chat"
    assert not batch.done() and not std.done()
    picker.finished(running[1])
    assert (await asyncio.wait_for(std, 1.0)).objective == "default"
    picker.finished(running[2])
    placed = await asyncio.wait_for(batch, 1.0)
    assert placed.request.priority == -1 and picker.waiting == 0


async def test_a_newcomer_waits_behind_requests_of_its_priority_but_not_behind_lower_ones() -> None:
    picker = make_picker(max_in_flight=1, objectives=OBJECTIVES)
    _full(picker)
    waiting = await _saturated(picker, "batch")
    # a fourth endpoint joins (nothing has finished, so nothing drained the queue yet)
    picker.apply_endpoints(
        [
            *(EndpointEntry(url=st.url, group=st.group) for st in picker.pool.states()),
            EndpointEntry(url=D, group="nvidia", capacity=3000),
        ]
    )
    with pytest.raises(Saturated):  # same priority as the waiting request: it queues behind it
        picker.pick("/v1/completions", BODY, objective="batch")
    assert picker.pick("/v1/completions", BODY, objective="chat").url == D  # higher: it goes first
    assert not waiting.done()
    waiting.cancel()


async def test_a_request_that_waits_too_long_gets_429_with_retry_after() -> None:
    picker = make_picker(max_in_flight=1, objectives=OBJECTIVES, max_wait_s=0.05)
    _full(picker)
    batch = await _saturated(picker, "batch")
    with pytest.raises(PickError) as err:
        await asyncio.wait_for(batch, 2.0)
    assert (err.value.status, err.value.retry_after) == (429, 1)
    text = generate_latest(picker.metrics.registry).decode()
    assert 'heteropool_epp_rejections_total{objective="batch",priority_class="low",reason="queue_timeout"} 1.0' in text
    assert 'heteropool_epp_queued_total{objective="batch",priority_class="low"} 1.0' in text
    assert "heteropool_epp_waiting_requests 0.0" in text


async def test_a_full_queue_refuses_lower_priority_and_makes_room_for_higher() -> None:
    picker = make_picker(max_in_flight=1, objectives=OBJECTIVES, max_waiting=1)
    running = _full(picker)
    batch = await _saturated(picker, "batch")
    with pytest.raises(Saturated) as err:
        picker.pick("/v1/completions", BODY, objective="batch")
    with pytest.raises(PickError) as full:
        await picker.wait(err.value)
    assert full.value.status == 429
    chat = await _saturated(picker, "chat")  # displaces the waiting batch request, never the reverse
    with pytest.raises(PickError):
        await asyncio.wait_for(batch, 1.0)
    picker.finished(running[0])
    assert (await asyncio.wait_for(chat, 1.0)).objective == "chat"


async def test_a_cancelled_wait_leaves_the_queue() -> None:
    picker = make_picker(max_in_flight=1, objectives=OBJECTIVES)
    running = _full(picker)
    batch = await _saturated(picker, "batch")
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert picker.waiting == 0
    picker.finished(running[0])
    assert picker.pick("/v1/completions", BODY).url == running[0].url


def test_routed_requests_are_counted_per_objective_and_priority_class() -> None:
    picker = make_picker(objectives=OBJECTIVES)
    for objective in ("chat", "chat", "batch", None):
        picker.pick("/v1/completions", BODY, objective=objective)
    text = generate_latest(picker.metrics.registry).decode()
    assert 'heteropool_epp_priority_picks_total{objective="chat",priority_class="high"} 2.0' in text
    assert 'heteropool_epp_priority_picks_total{objective="batch",priority_class="low"} 1.0' in text
    assert 'heteropool_epp_priority_picks_total{objective="default",priority_class="standard"} 1.0' in text


async def test_a_request_placed_just_as_its_client_went_away_releases_its_load() -> None:
    picker = make_picker(max_in_flight=1, objectives=OBJECTIVES)
    running = _full(picker)
    batch = await _saturated(picker, "batch")
    picker.finished(running[0])  # placed: its future holds a decision, the task has not resumed yet
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert sum(st.in_flight for st in picker.pool.states()) == 2  # only the two still running
