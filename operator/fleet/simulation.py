"""Discrete-event fleet simulation: N simulated vLLM replicas behind any `Router`, in virtual time.

The driver plays the gateway with the gateway's own load accounting (`EndpointPool`): in-flight
requests and queued prompt tokens (estimated from the prompt text as the gateway does) per
endpoint, the in-flight cap, and engine state (running, waiting, KV usage) refreshed only on a
periodic scrape, so routers see what they would see in production. Requests no endpoint can take
(the router says saturated) wait in the picker's `WaitQueue`, highest priority first, and are
placed as prefills complete and scrapes come in, or rejected once they have waited too long, as
the Endpoint Picker does. Same seed and inputs, same result.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from heteropool.fleet.workloads import WorkItem
from heteropool.routing import (
    EndpointView,
    NoEndpointError,
    Router,
    RouteRequest,
    estimate_prompt_tokens,
    expected_prefill_tokens,
)
from heteropool.scheduling.endpoints import EndpointPool
from heteropool.scheduling.waiting import DEFAULT_MAX_WAIT_S, WaitQueue
from heteropool.sim.blocks import PrefixHasher
from heteropool.sim.engine import Engine, EngineConfig, RequestRejectedError, StepResult
from heteropool.sim.profiles import SpeedProfile
from heteropool.sim.tokenizer import Tokenizer

__all__ = ["ReplicaSpec", "RequestRecord", "StageRecord", "FleetSimulation", "REJECTIONS"]

REJECTIONS = ("saturated", "queue-full", "queue-timeout")
"""Errors that are the picker's 429s (as opposed to failures of an endpoint)."""

_STEP_END, _SCRAPE, _ARRIVAL = 0, 1, 2  # order of simultaneous events


@dataclass(frozen=True, slots=True)
class ReplicaSpec:
    """One simulated replica: its id, speed profile and vLLM flags."""

    id: str
    profile: SpeedProfile
    block_size: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    max_model_len: int | None = None
    num_gpu_blocks: int | None = None
    capacity_tokens_per_s: float | None = None
    capacity_multiplier: float | None = None
    slowdown: float = 1.0
    prefill_tokens_per_s: float | None = None

    @property
    def vendor(self) -> str:
        return self.profile.vendor


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request (times in simulated seconds)."""

    request_id: str
    stage: int
    arrival_s: float
    prompt_tokens: int
    endpoint: str | None = None
    first_token_s: float | None = None
    finish_s: float | None = None
    output_tokens: int = 0
    cached_tokens: int = 0
    error: str | None = None
    priority: int = 0  # the workload's (what the router saw may be 0: `ignore_priority`)

    @property
    def rejected(self) -> bool:
        """Refused by the picker (a 429): no endpoint could take it in time."""
        return self.error in REJECTIONS

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_s is None else self.first_token_s - self.arrival_s

    @property
    def itl_s(self) -> float | None:
        """Mean inter-token latency of this request."""
        if self.finish_s is None or self.first_token_s is None or self.output_tokens < 2:
            return None
        return (self.finish_s - self.first_token_s) / (self.output_tokens - 1)


@dataclass(slots=True)
class StageRecord:
    """One load stage: when it started sending, when its last request ended, and its requests."""

    index: int
    qps: float
    start_s: float
    end_s: float = 0.0
    requests: list[RequestRecord] = field(default_factory=list)
    outstanding: int = 0


@dataclass(slots=True, eq=False)
class _Replica:
    spec: ReplicaSpec
    engine: Engine
    hasher: PrefixHasher
    busy: bool = False
    pending: StepResult | None = None
    slowdown: float = 1.0


@dataclass(slots=True)
class _Waiting:
    record: RequestRecord
    request: RouteRequest
    item: WorkItem
    stage: StageRecord


@dataclass(slots=True)
class _Track:
    record: RequestRecord
    request: RouteRequest
    replica: int
    stage: StageRecord
    prefill_tokens: int


class FleetSimulation:
    """Runs load stages through a router onto simulated replicas.

    Each stage's arrivals are offsets from the stage start. By default (the published harness,
    inference-perf) a stage starts when every request of the previous one has finished; with
    `durations` the stages start on the clock instead, one after the other, and backlog carries
    over (a sustained-load view for capacity planning). Every policy sees identical arrivals.
    """

    def __init__(
        self,
        replicas: Sequence[ReplicaSpec],
        router: Router,
        *,
        scrape_interval_s: float = 0.2,
        tokenizer: Tokenizer | None = None,
        max_in_flight_per_endpoint: int = 1024,
        on_step: Callable[[str, float, StepResult], None] | None = None,
        on_scrape: Callable[[float], None] | None = None,
        queue_wait_s: float = DEFAULT_MAX_WAIT_S,
        ignore_priority: bool = False,
    ) -> None:
        """Args:
        scrape_interval_s: how often (simulated) routers' engine state is refreshed.
        max_in_flight_per_endpoint: the gateway's per-endpoint cap (its default: 1024).
        on_step: called with (replica id, end time, result) after every engine step.
        on_scrape: called with the time after every scrape; a weight controller in the loop
            reads `engine(id).stats` there and calls `set_routing`.
        queue_wait_s: how long a saturated request may wait in the picker (0: rejected at once).
        ignore_priority: route every request at priority 0 (records keep the workload's).
        """
        if not replicas:
            raise ValueError("replicas: at least one replica is required")
        if scrape_interval_s <= 0:
            raise ValueError(f"scrape_interval_s: must be > 0, got {scrape_interval_s}")
        self.router = router
        self.scrape_interval_s = scrape_interval_s
        self.ignore_priority = ignore_priority
        self._waiting: WaitQueue[_Waiting] = WaitQueue(max_wait_s=queue_wait_s)
        self._on_step = on_step
        self._on_scrape = on_scrape
        tokenizer = tokenizer or Tokenizer()
        hashers: dict[int, PrefixHasher] = {}
        self._replicas: list[_Replica] = []
        self._index: dict[str, int] = {}
        views: list[EndpointView] = []
        for spec in replicas:
            if spec.id in self._index:
                raise ValueError(f"replicas: duplicate id {spec.id!r}")
            config = EngineConfig.from_profile(
                spec.profile,
                block_size=spec.block_size,
                max_num_seqs=spec.max_num_seqs,
                max_num_batched_tokens=spec.max_num_batched_tokens,
                max_model_len=spec.max_model_len,
                num_gpu_blocks=spec.num_gpu_blocks,
            )
            bs = config.block_size
            hasher = hashers.setdefault(bs, PrefixHasher(tokenizer, bs))
            self._index[spec.id] = len(self._replicas)
            self._replicas.append(_Replica(spec, Engine(config), hasher, slowdown=spec.slowdown))
            views.append(
                EndpointView(
                    id=spec.id,
                    group=spec.vendor,
                    block_size=bs,
                    capacity_tokens_per_s=spec.capacity_tokens_per_s,
                    capacity_multiplier=spec.capacity_multiplier,
                    prefill_tokens_per_s=spec.prefill_tokens_per_s,
                )
            )
        self.now_s = 0.0
        self.pool = EndpointPool(clock=lambda: self.now_s, max_in_flight=max_in_flight_per_endpoint)
        self.pool.apply_views(views)
        self.replica_ids = tuple(self._index)
        self.vendors = {r.spec.id: r.spec.vendor for r in self._replicas}

    def engine(self, replica_id: str) -> Engine:
        """The engine of one replica (for inspection in tests and reports)."""
        return self._replicas[self._index[replica_id]].engine

    def set_slowdown(self, replica_id: str, factor: float) -> None:
        """Slow one replica down from its next step on (the fleet twin of `/admin/config` slowdown)."""
        if factor <= 0:
            raise ValueError(f"slowdown: must be > 0, got {factor}")
        self._replicas[self._index[replica_id]].slowdown = factor

    def set_routing(
        self, replica_id: str, *, capacity_tokens_per_s: float | None = None, capacity_multiplier: float | None = None
    ) -> None:
        """Change what routers see as an endpoint's capacity and capacity multiplier (None leaves it as is)."""
        self._replicas[self._index[replica_id]]  # KeyError for an unknown id, as before
        views = []
        for st in self.pool.states():
            base = st.base
            if st.url == replica_id:
                base = replace(
                    base,
                    capacity_tokens_per_s=base.capacity_tokens_per_s
                    if capacity_tokens_per_s is None
                    else capacity_tokens_per_s,
                    capacity_multiplier=base.capacity_multiplier
                    if capacity_multiplier is None
                    else capacity_multiplier,
                )
            views.append(base)
        self.pool.apply_views(views)

    def run(
        self, stages: Sequence[tuple[float, Sequence[WorkItem]]], *, durations: Sequence[float] | None = None
    ) -> list[StageRecord]:
        """Run (qps, items) stages in order; returns one record per stage.

        Without `durations` each stage starts once the previous one has drained (inference-perf);
        with them, stage i starts `durations[i-1]` after stage i-1 started, whatever is still running.
        """
        if durations is None:
            return [self._run([(index, qps, items)], [0.0])[0] for index, (qps, items) in enumerate(stages)]
        if len(durations) != len(stages):
            raise ValueError(f"durations: {len(durations)} given for {len(stages)} stages")
        starts, t = [], 0.0
        for d in durations:
            starts.append(t)
            t += d
        return self._run([(i, qps, items) for i, (qps, items) in enumerate(stages)], starts)

    # --- the event loop ----------------------------------------------------------------

    def _run(
        self, stages: Sequence[tuple[int, float, Sequence[WorkItem]]], starts: Sequence[float]
    ) -> list[StageRecord]:
        """Play the given stages (start times relative to now) until every request has ended."""
        t0 = self.now_s
        heap: list[tuple[float, int, int, object]] = []
        seq = 0
        records: list[StageRecord] = []
        for (index, qps, items), start in zip(stages, starts, strict=True):
            stage = StageRecord(index, qps, t0 + start)
            records.append(stage)
            for item in items:
                heapq.heappush(heap, (t0 + start + item.offset_s, _ARRIVAL, seq, (stage, item)))
                seq += 1
        self._scrape()
        heapq.heappush(heap, (t0 + self.scrape_interval_s, _SCRAPE, seq, None))
        seq += 1
        outstanding = 0
        tracks: dict[str, _Track] = {}
        replicas = self._replicas
        router = self.router
        pool = self.pool
        on_step = self._on_step
        waiting = self._waiting
        drain = False
        while heap:
            t, kind, _s, payload = heapq.heappop(heap)
            self.now_s = t
            if kind == _STEP_END:
                r_i = payload
                assert isinstance(r_i, int)
                rep = replicas[r_i]
                res = rep.pending
                assert res is not None
                if on_step is not None:
                    on_step(rep.spec.id, t, res)
                rid_ = rep.spec.id
                if res.first_tokens and waiting:
                    drain = True
                for rid in res.first_tokens:
                    tr = tracks[rid]
                    tr.record.first_token_s = t
                    pool.first_token(rid_, tr.request.prompt_tokens, tr.prefill_tokens)
                for fin in res.finished:
                    tr = tracks.pop(fin.request_id)
                    rec = tr.record
                    rec.finish_s = t
                    rec.output_tokens = fin.generation_tokens
                    rec.cached_tokens = fin.cached_tokens
                    pool.release(rid_, 0)
                    outstanding -= 1
                    tr.stage.outstanding -= 1
                    tr.stage.end_s = max(tr.stage.end_s, t)
                    router.on_finished(tr.request, rid_, ok=True)
                seq = self._start_step(r_i, t, heap, seq)
            elif kind == _ARRIVAL:
                stage, item = payload  # type: ignore[misc]
                rec, req = self._request(item, stage.index, t)
                stage.requests.append(rec)
                stage.end_s = max(stage.end_s, t)
                if waiting and req.priority <= waiting.head()[1]:  # type: ignore[index]
                    r_i, prefill = -1, 0  # it queues behind requests of its priority or higher
                    rec.error = "saturated"
                else:
                    r_i, prefill = self._place(rec, req, item)
                if r_i < 0:
                    if rec.error == "saturated":
                        self._queue(_Waiting(rec, req, item, stage), t)
                    continue
                tracks[item.request_id] = _Track(rec, req, r_i, stage, prefill)
                outstanding += 1
                stage.outstanding += 1
                if not replicas[r_i].busy:
                    seq = self._start_step(r_i, t, heap, seq)
            else:
                self._scrape()
                drain = bool(waiting)
                if heap or waiting:
                    heapq.heappush(heap, (t + self.scrape_interval_s, _SCRAPE, seq, None))
                    seq += 1
            if drain:
                drain = False
                for w, r_i, prefill in self._drain(t):
                    tracks[w.item.request_id] = _Track(w.record, w.request, r_i, w.stage, prefill)
                    outstanding += 1
                    w.stage.outstanding += 1
                    if not replicas[r_i].busy:
                        seq = self._start_step(r_i, t, heap, seq)
        if outstanding or waiting:
            raise RuntimeError(f"stages {[r.index for r in records]}: {outstanding} requests never finished")
        for stage in records:
            stage.end_s = max(stage.end_s, stage.start_s)
        return records

    def _request(self, item: WorkItem, stage: int, t: float) -> tuple[RequestRecord, RouteRequest]:
        rec = RequestRecord(item.request_id, stage, t, 0, priority=item.priority)
        priority = 0 if self.ignore_priority else item.priority
        req = RouteRequest(item.request_id, item.prompt, estimate_prompt_tokens(item.prompt), item.max_tokens, priority)
        return rec, req

    def _place(self, rec: RequestRecord, req: RouteRequest, item: WorkItem) -> tuple[int, int]:
        """Route and submit one request: (replica index, expected prefill tokens), or (-1, 0) with
        `rec.error` set ("saturated": it may wait in the queue)."""
        views, full = self.pool.candidates()
        if not views:
            rec.error = "saturated" if full else "no-endpoint"
            return -1, 0
        try:
            endpoint = self.router.pick(req, views)
        except NoEndpointError as exc:
            rec.error = "saturated" if exc.saturated else "no-endpoint"
            return -1, 0
        rec.error = None
        r_i = self._index.get(endpoint)
        if r_i is None:
            raise RuntimeError(f"router {self.router.name!r} picked unknown endpoint {endpoint!r}")
        rep = self._replicas[r_i]
        rep0 = self._replicas[0]
        ph0 = rep0.hasher.of_segments(item.segments)
        rec.prompt_tokens = ph0.num_tokens
        estimate = req.prompt_tokens
        prefill = expected_prefill_tokens(estimate, self.router.prefix_share(req, endpoint))
        self.router.on_routed(req, endpoint)
        self.pool.acquire(endpoint, estimate, prefill)
        ph = ph0 if rep.hasher is rep0.hasher else rep.hasher.of_segments(item.segments)
        try:
            rep.engine.add_request(item.request_id, ph.num_tokens, ph.hashes, item.max_tokens)
        except RequestRejectedError as exc:
            rec.error = f"rejected: {exc}"
            self.pool.release(endpoint, estimate, prefill)
            self.router.on_finished(req, endpoint, ok=False)
            return -1, 0
        rec.endpoint = endpoint
        return r_i, prefill

    def _queue(self, w: _Waiting, t: float) -> None:
        queued, evicted = self._waiting.push(w, w.request.priority, t)
        if not queued:
            w.record.error = "queue-full" if self._waiting.max_wait_s > 0 else "saturated"
            return
        if evicted is not None:
            evicted.record.error = "queue-full"
            evicted.stage.end_s = max(evicted.stage.end_s, t)

    def _drain(self, t: float) -> list[tuple[_Waiting, int, int]]:
        """Reject requests that waited too long, then place waiting ones in order while they fit."""
        waiting = self._waiting
        for w in waiting.expire(t):
            w.record.error = "queue-timeout"
            w.stage.end_s = max(w.stage.end_s, t)
        placed = []
        while waiting:
            w, _p = waiting.head()  # type: ignore[misc]
            r_i, prefill = self._place(w.record, w.request, w.item)
            if r_i < 0 and w.record.error == "saturated":
                break
            waiting.pop()
            if r_i >= 0:
                placed.append((w, r_i, prefill))
            else:
                w.stage.end_s = max(w.stage.end_s, t)
        return placed

    def _start_step(self, r_i: int, t: float, heap: list[tuple[float, int, int, object]], seq: int) -> int:
        rep = self._replicas[r_i]
        res = rep.engine.step()
        rep.pending = res
        rep.busy = res is not None
        if res is not None:
            heapq.heappush(heap, (t + res.duration_s * rep.slowdown, _STEP_END, seq, r_i))
            seq += 1
        return seq

    def _scrape(self) -> None:
        pool = self.pool
        for rep in self._replicas:
            eng = rep.engine
            pool.scraped(rep.spec.id, eng.num_running, eng.num_waiting, eng.kv_usage())
        if self._on_scrape is not None:
            self._on_scrape(self.now_s)
