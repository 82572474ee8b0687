"""What makes tokens for the HTTP server, in real time on the asyncio event loop.

`RealtimeDriver` runs an `Engine`. Engine time runs `time_scale` times faster than the loop clock.
Steps follow each other on the engine's own timeline (a late wake-up delays delivery, never the
schedule), and a request joins the first step that starts at or after its arrival (one that arrives
while a late wake-up is being caught up waits for the next step), so the schedule is the one the
fleet's virtual clock would give.

`FixedLatencyDriver` runs no engine: every request gets the same time to first token and the same
gap between tokens whatever the load, for benchmarks of what sits in front of the replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from heteropool.sim.engine import (
    Engine,
    EngineStats,
    FinishedRequest,
    RequestRejectedError,
    StepResult,
    check_request_size,
)
from heteropool.sim.metrics import SimMetrics

__all__ = ["RequestStream", "RealtimeDriver", "FixedLatencyDriver"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class RequestStream:
    """Progress of one request, as the HTTP handler consumes it (times in engine seconds)."""

    request_id: str
    prompt_tokens: int
    max_tokens: int
    arrival: float
    tokens: int = 0
    admitted_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    finished: FinishedRequest | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self) -> None:
        """Until something new happened (tokens or the end)."""
        await self.changed.wait()
        self.changed.clear()


class _Driver:
    """What both drivers share: the time scale, the admin slow-down, the metrics they feed."""

    def __init__(self, time_scale: float, slowdown: Callable[[], float], metrics: SimMetrics | None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale: must be > 0, got {time_scale}")
        self.time_scale = time_scale
        self._slowdown = slowdown
        self.metrics = metrics  # public: a server may attach metrics that read the driver's load
        self.dead: BaseException | None = None  # set if an engine loop crashed (vLLM: EngineDeadError)


class RealtimeDriver(_Driver):
    """The engine loop of one server: submit requests, get token progress as it happens."""

    def __init__(
        self,
        engine: Engine,
        *,
        time_scale: float = 1.0,
        slowdown: Callable[[], float] = lambda: 1.0,
        metrics: SimMetrics | None = None,
    ) -> None:
        super().__init__(time_scale, slowdown, metrics)
        self.engine = engine
        self._streams: dict[str, RequestStream] = {}
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._t = 0.0  # engine time at which the next step may start
        # Submitted requests not yet handed to the engine: (arrival, id, prompt tokens, hashes, max tokens).
        self._pending: deque[tuple[float, str, int, Sequence[int], int]] = deque()
        self._task: asyncio.Task[None] | None = None

    def now(self) -> float:
        """Current engine time."""
        return (self._loop.time() - self._t0) * self.time_scale

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sim-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a crash was logged in _run
                await self._task
            self._task = None

    def submit(
        self, request_id: str, prompt_tokens: int, block_hashes: tuple[int, ...], max_tokens: int
    ) -> RequestStream:
        """Queue a request now. Raises RequestRejectedError as `Engine.add_request` does."""
        if request_id in self._streams:
            raise RequestRejectedError(f"request id {request_id!r} is already running")
        self.engine.check_request(request_id, prompt_tokens, max_tokens)
        arrival = self.now()
        self._pending.append((arrival, request_id, prompt_tokens, block_hashes, max_tokens))
        stream = RequestStream(request_id, prompt_tokens, max_tokens, arrival)
        self._streams[request_id] = stream
        if self.metrics is not None:
            self.metrics.max_tokens.observe(max_tokens)
        self._wake.set()
        return stream

    def abort(self, request_id: str) -> None:
        """Forget a request whose client went away."""
        stream = self._streams.pop(request_id, None)
        queued = next((entry for entry in self._pending if entry[1] == request_id), None)
        if queued is not None:
            self._pending.remove(queued)
        fin = None if queued is not None else self.engine.abort(request_id)
        if stream is not None and (queued is not None or fin is not None) and self.metrics is not None:
            self.metrics.success["abort"] += 1

    async def _run(self) -> None:
        try:
            await self._loop_steps()
        except Exception as exc:
            # A crashed engine must be visible (/health 503), never a silent hang of every request.
            self.dead = exc
            log.exception("simulated engine loop crashed")
            for s in self._streams.values():
                s.changed.set()
            raise

    async def _loop_steps(self) -> None:
        engine = self.engine
        scale = self.time_scale
        pending = self._pending
        while True:
            if not engine.has_work() and not pending:
                self._wake.clear()
                await self._wake.wait()
            start = self._t if engine.has_work() else max(self._t, pending[0][0])
            while pending and pending[0][0] <= start:
                _arrival, rid, prompt_tokens, hashes, max_tokens = pending.popleft()
                engine.add_request(rid, prompt_tokens, hashes, max_tokens)
            res = engine.step()
            if res is None:
                continue
            end = start + res.duration_s * self._slowdown()
            delay = self._t0 + end / scale - self._loop.time()
            await asyncio.sleep(delay if delay > 0 else 0)
            self._t = end
            self._deliver(res, start, end)

    def _deliver(self, res: StepResult, start: float, end: float) -> None:
        streams = self._streams
        metrics = self.metrics
        scale = self.time_scale
        for rid in res.admitted:
            s = streams.get(rid)
            if s is not None:
                s.admitted_at = start
                if metrics is not None:
                    metrics.queue.observe((start - s.arrival) / scale)
        for rid in res.tokens:
            s = streams.get(rid)
            if s is None:
                continue
            if s.last_token_at is None:
                s.first_token_at = end
                if metrics is not None:
                    metrics.ttft.observe((end - s.arrival) / scale)
            elif metrics is not None:
                metrics.itl.observe((end - s.last_token_at) / scale)
            s.last_token_at = end
            s.tokens += 1
            s.changed.set()
        if metrics is not None:
            metrics.iteration_tokens.observe(res.num_prefill_tokens + res.num_decode_seqs)
        for fin in res.finished:
            s = streams.pop(fin.request_id, None)
            if s is None:
                continue
            s.finished = fin
            s.changed.set()
            if metrics is not None:
                self._record_finish(metrics, s, fin, end)

    def _record_finish(self, m: SimMetrics, s: RequestStream, fin: FinishedRequest, end: float) -> None:
        scale = self.time_scale
        admitted = s.admitted_at if s.admitted_at is not None else s.arrival
        first = s.first_token_at if s.first_token_at is not None else end
        m.success[fin.finish_reason] += 1
        m.e2e.observe((end - s.arrival) / scale)
        m.inference.observe((end - admitted) / scale)
        m.prefill.observe((first - admitted) / scale)
        m.decode.observe((end - first) / scale)
        if fin.generation_tokens > 1:
            m.tpot.observe((end - first) / scale / (fin.generation_tokens - 1))
        m.prompt_tokens.observe(fin.prompt_tokens)
        m.generation_tokens.observe(fin.generation_tokens)


class FixedLatencyDriver(_Driver):
    """Tokens on a fixed schedule: the first `ttft_s` after arrival, then one every `itl_s` (engine seconds).

    No engine, no batching, no queue: one timer per token (none for a zero delay), so a process serves
    thousands of requests a second on one core. `submit`, `abort` and the streams are those of
    `RealtimeDriver`. To stay that cheap it records only the TTFT, inter-token and end-to-end
    histograms and the counters (the phase and per-request token histograms stay empty); as a
    `ReplicaLoad` it reports the requests in flight as running and an empty KV cache.
    """

    def __init__(
        self,
        ttft_s: float,
        itl_s: float,
        *,
        max_model_len: int,
        time_scale: float = 1.0,
        slowdown: Callable[[], float] = lambda: 1.0,
        metrics: SimMetrics | None = None,
    ) -> None:
        super().__init__(time_scale, slowdown, metrics)
        if ttft_s < 0 or itl_s < 0:
            raise ValueError(f"ttft_s and itl_s: must be >= 0, got {ttft_s} and {itl_s}")
        self.max_model_len = max_model_len
        self.stats = EngineStats()
        self._ttft_s = ttft_s
        self._itl_s = itl_s
        self._streams: dict[str, RequestStream] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def num_running(self) -> int:
        return len(self._streams)

    @property
    def num_waiting(self) -> int:
        return 0

    def kv_usage(self) -> float:
        return 0.0

    def now(self) -> float:
        """Current engine time."""
        assert self._loop is not None, "start() the driver first"
        return self._loop.time() * self.time_scale

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def submit(
        self, request_id: str, prompt_tokens: int, block_hashes: tuple[int, ...], max_tokens: int
    ) -> RequestStream:
        """Start a request now (`block_hashes` are not used). Raises RequestRejectedError as the engine would."""
        if request_id in self._streams:
            raise RequestRejectedError(f"request id {request_id!r} is already running")
        check_request_size(prompt_tokens, max_tokens, self.max_model_len)
        stream = RequestStream(request_id, prompt_tokens, max_tokens, self.now())
        self._streams[request_id] = stream
        if not self._schedule(self._ttft_s, stream):
            self._tokens(stream)
        return stream

    def abort(self, request_id: str) -> None:
        """Forget a request whose client went away."""
        timer = self._timers.pop(request_id, None)
        if timer is not None:
            timer.cancel()
        if self._streams.pop(request_id, None) is not None and self.metrics is not None:
            self.metrics.success["abort"] += 1

    def _schedule(self, delay_s: float, stream: RequestStream) -> bool:
        """Emit the next tokens `delay_s` engine seconds from now, on a timer; False when that is now."""
        real_s = delay_s * self._slowdown() / self.time_scale
        if real_s <= 0:
            return False
        assert self._loop is not None
        self._timers[stream.request_id] = self._loop.call_later(real_s, self._tokens, stream)
        return True

    def _tokens(self, stream: RequestStream) -> None:
        """Emit the token that is due, and every later one that a zero inter-token gap makes due now."""
        while True:
            self._emit(stream)
            if stream.finished is not None or self._schedule(self._itl_s, stream):
                break
        stream.changed.set()

    def _emit(self, stream: RequestStream) -> None:
        now = self.now()
        metrics = self.metrics
        scale = self.time_scale
        if stream.last_token_at is None:
            stream.first_token_at = stream.admitted_at = now
            self.stats.prompt_tokens += stream.prompt_tokens
            if metrics is not None:
                metrics.ttft.observe((now - stream.arrival) / scale)
        elif metrics is not None:
            metrics.itl.observe((now - stream.last_token_at) / scale)
        stream.last_token_at = now
        stream.tokens += 1
        self.stats.generation_tokens += 1
        if stream.tokens == stream.max_tokens:
            rid = stream.request_id
            del self._streams[rid]
            self._timers.pop(rid, None)
            stream.finished = FinishedRequest(rid, stream.prompt_tokens, stream.tokens, 0, "length", 0)
            if metrics is not None:
                metrics.success["length"] += 1
                metrics.e2e.observe((now - stream.arrival) / scale)
