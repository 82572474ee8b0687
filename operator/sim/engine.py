"""One vLLM replica as a pure state machine: continuous batching, chunked prefill, prefix cache, preemption.

The engine has no clock and does no I/O: `step()` schedules and runs one iteration and returns how
long it took. Drivers own time: the HTTP server sleeps `duration_s`, the fleet simulation moves a
virtual clock, so both see the same schedule for the same arrivals.

Decode is O(1) per step, not O(batch): a decoding sequence is stored by the step it started
decoding at, so its token count, context length and block needs follow from the step number.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from heteropool.sim.kvcache import BlockPool
from heteropool.sim.profiles import SpeedProfile

__all__ = [
    "EngineConfig",
    "EngineStats",
    "FinishedRequest",
    "StepResult",
    "Engine",
    "EngineError",
    "RequestRejectedError",
    "check_request_size",
]


class EngineError(RuntimeError):
    """The engine reached a state it cannot leave (a bug, never a load condition)."""


class RequestRejectedError(ValueError):
    """The request can never run here (too long, duplicate id, bad max_tokens); vLLM answers 400."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Scheduler and cache limits of one replica, plus the profile that prices each step."""

    profile: SpeedProfile
    block_size: int
    num_gpu_blocks: int
    max_num_seqs: int
    max_num_batched_tokens: int
    max_model_len: int
    enable_prefix_caching: bool = True

    @classmethod
    def from_profile(
        cls,
        profile: SpeedProfile,
        *,
        block_size: int | None = None,
        max_num_seqs: int | None = None,
        max_num_batched_tokens: int | None = None,
        max_model_len: int | None = None,
        num_gpu_blocks: int | None = None,
        enable_prefix_caching: bool = True,
    ) -> EngineConfig:
        """vLLM-style defaults from the profile; any argument given overrides it."""
        bs = block_size or profile.block_size
        blocks = num_gpu_blocks or profile.num_gpu_blocks(bs)
        # vLLM refuses to start when one max-length request cannot fit in KV; we shorten instead.
        model_len = min(max_model_len or profile.max_model_len, blocks * bs)
        return cls(
            profile=profile,
            block_size=bs,
            num_gpu_blocks=blocks,
            max_num_seqs=max_num_seqs or profile.max_num_seqs,
            max_num_batched_tokens=max(max_num_batched_tokens or profile.max_num_batched_tokens, max_num_seqs or 1),
            max_model_len=model_len,
            enable_prefix_caching=enable_prefix_caching,
        )


@dataclass(slots=True)
class EngineStats:
    """Cumulative counters, the sources of vLLM's `_total` metrics."""

    prompt_tokens: int = 0
    generation_tokens: int = 0
    prefix_cache_queries: int = 0
    prefix_cache_hits: int = 0
    preemptions: int = 0
    steps: int = 0
    busy_s: float = 0.0


@dataclass(frozen=True, slots=True)
class FinishedRequest:
    """A request that left the engine."""

    request_id: str
    prompt_tokens: int
    generation_tokens: int
    cached_tokens: int
    finish_reason: str  # "length" or "abort"
    num_preemptions: int


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one engine iteration did; drivers deliver it `duration_s` after it started."""

    duration_s: float
    tokens: tuple[str, ...]  # requests that produced one token in this step (first ones included)
    first_tokens: tuple[str, ...]
    finished: tuple[FinishedRequest, ...]
    admitted: tuple[str, ...]  # scheduled for the first time (their queue time ends here)
    num_prefill_tokens: int
    num_decode_seqs: int
    num_preempted: int


@dataclass(slots=True, eq=False)
class _Seq:
    rid: str
    prompt_len: int
    hashes: Sequence[int]
    max_tokens: int
    order: int
    target: int  # tokens to (re)compute before the next token: prompt plus tokens generated so far
    generated: int = 0  # while decoding: the count at `anchor`
    computed: int = 0
    hashed: int = 0  # hashes[:hashed] are held in the prefix cache
    anchor: int = -1  # step whose end started decoding; -1 when not decoding
    offset: int = 0  # target - anchor: context length is offset + step number
    residue: int = 0  # step numbers (mod block size) at which it needs one more block
    epoch: int = 0  # invalidates stale finish-heap entries
    cached_tokens: int = 0
    preemptions: int = 0
    admitted: bool = False


def check_request_size(prompt_tokens: int, max_tokens: int, max_model_len: int) -> None:
    """Raise RequestRejectedError, with vLLM's message, if the request can never fit the context."""
    if max_tokens < 1:
        raise RequestRejectedError(f"max_tokens must be at least 1, got {max_tokens}")
    if prompt_tokens < 1:
        raise RequestRejectedError("prompt must have at least one token")
    if prompt_tokens + max_tokens > max_model_len:
        raise RequestRejectedError(
            f"This model's maximum context length is {max_model_len} tokens. However, you requested "
            f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, "
            f"{max_tokens} in the completion)."
        )


def _blocks(tokens: int, block_size: int) -> int:
    return -(-tokens // block_size)


@dataclass(slots=True)
class _Work:
    chunks: list[tuple[_Seq, int]] = field(default_factory=list)
    admitted: list[str] = field(default_factory=list)
    preempted: int = 0


class Engine:
    """A vLLM V1-like scheduler over a counted KV pool, priced by a `SpeedProfile`."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.block_size = config.block_size
        self.stats = EngineStats()
        self._pool = BlockPool(config.num_gpu_blocks, enable_prefix_caching=config.enable_prefix_caching)
        self._waiting: deque[_Seq] = deque()
        self._running: dict[str, _Seq] = {}  # admission order; preemption takes the last
        self._prefilling: dict[str, _Seq] = {}
        self._decoding: dict[str, _Seq] = {}
        self._by_id: dict[str, _Seq] = {}
        self._cross = [0] * config.block_size
        self._offset_sum = 0
        self._finish_heap: list[tuple[int, int, int, _Seq]] = []
        self._step_no = 0
        self._order = 0
        p = config.profile
        self._prices = (p.step_base_s, p.prefill_token_s, p.prefill_attn_s, p.decode_seq_s, p.ctx_token_s)

    # --- state a scrape or router sees ---------------------------------------------------

    @property
    def num_running(self) -> int:
        return len(self._running)

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    def kv_usage(self) -> float:
        """Fraction of KV blocks held by running requests (0..1)."""
        return self._pool.usage()

    def has_work(self) -> bool:
        return bool(self._running) or bool(self._waiting)

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._by_id

    # --- requests ------------------------------------------------------------------------

    def add_request(self, request_id: str, prompt_tokens: int, block_hashes: Sequence[int], max_tokens: int) -> None:
        """Queue a request; `block_hashes` are its full prompt blocks at this engine's block size.

        Raises:
            RequestRejectedError: duplicate id, max_tokens < 1, or prompt + max_tokens over max_model_len.
        """
        self.check_request(request_id, prompt_tokens, max_tokens)
        self._order += 1
        seq = _Seq(request_id, prompt_tokens, block_hashes, max_tokens, self._order, target=prompt_tokens)
        self._by_id[request_id] = seq
        self._waiting.append(seq)

    def check_request(self, request_id: str, prompt_tokens: int, max_tokens: int) -> None:
        """Raise RequestRejectedError if `add_request` would refuse this request."""
        if request_id in self._by_id:
            raise RequestRejectedError(f"request id {request_id!r} is already running")
        check_request_size(prompt_tokens, max_tokens, self.config.max_model_len)

    def abort(self, request_id: str) -> FinishedRequest | None:
        """Drop a request wherever it is (client went away); None if unknown."""
        seq = self._by_id.get(request_id)
        if seq is None:
            return None
        if request_id in self._running:
            del self._running[request_id]
            if request_id in self._decoding:
                kv = seq.target + (self._step_no - seq.anchor)
                seq.generated += self._step_no - seq.anchor
                self._stop_decoding(seq)
            else:
                kv = seq.computed
                del self._prefilling[request_id]
            self._release(seq, kv)
        else:
            self._waiting.remove(seq)
        return self._retire(seq, "abort")

    # --- one iteration -------------------------------------------------------------------

    def step(self) -> StepResult | None:
        """Schedule and run one iteration; None when there is nothing to do."""
        if not self._running and not self._waiting:
            return None
        j = self._step_no = self._step_no + 1
        pool = self._pool
        work = _Work()

        # 1. Every decoding sequence takes one token; some need a fresh block for it.
        r = j % self.block_size
        need = self._cross[r]
        if need:
            while need > pool.available:
                self._preempt_last(j)
                work.preempted += 1
                need = self._cross[r]
            pool.allocate(need)
        n_dec = len(self._decoding)
        ctx = self._offset_sum + n_dec * j
        decoded = tuple(self._decoding) if n_dec else ()

        # 2-4. Prefill: continue part-done prompts, admit waiting ones, run the chunks.
        prefill_tokens = 0
        attn = 0.0
        produced: list[str] = []
        first: list[str] = []
        finished: list[FinishedRequest] = []
        if self._prefilling or self._waiting:
            budget = self.config.max_num_batched_tokens - n_dec
            budget = self._continue_prefills(j, budget, n_dec, work)
            # vLLM admits no waiting request in a step that preempted one (unless nothing else runs).
            if not work.preempted or not (n_dec or work.chunks):
                self._admit(budget, work)
            prefill_tokens, attn = self._run_chunks(j, work.chunks, produced, first, finished)
            if not n_dec and not work.chunks:
                raise EngineError(
                    f"step {j} scheduled nothing with {len(self._running)} running, "
                    f"{len(self._waiting)} waiting, {pool.available} blocks available"
                )

        # 5. Decoding sequences that reached max_tokens leave.
        heap = self._finish_heap
        while heap and heap[0][0] <= j:
            _f, _o, epoch, seq = heapq.heappop(heap)
            if epoch != seq.epoch:
                continue
            seq.generated += j - seq.anchor
            kv = seq.target + (j - seq.anchor)
            self._stop_decoding(seq)
            del self._running[seq.rid]
            self._release(seq, kv)
            finished.append(self._retire(seq, "length"))

        base_s, prefill_s, attn_s, seq_s, ctx_s = self._prices
        duration = base_s + prefill_s * prefill_tokens + attn_s * attn + seq_s * n_dec + ctx_s * ctx
        stats = self.stats
        stats.steps += 1
        stats.busy_s += duration
        stats.generation_tokens += n_dec + len(produced)
        return StepResult(
            duration_s=duration,
            tokens=decoded + tuple(produced) if produced else decoded,
            first_tokens=tuple(first),
            finished=tuple(finished),
            admitted=tuple(work.admitted),
            num_prefill_tokens=prefill_tokens,
            num_decode_seqs=n_dec,
            num_preempted=work.preempted,
        )

    def _continue_prefills(self, j: int, budget: int, n_dec: int, work: _Work) -> int:
        """Give part-prefilled requests their next chunk, in admission order; returns the budget left."""
        bs = self.block_size
        pool = self._pool
        for seq in list(self._prefilling.values()):
            if budget <= 0:
                break
            if seq.rid not in self._prefilling:
                continue
            chunk = min(seq.target - seq.computed, budget)
            new = _blocks(seq.computed + chunk, bs) - _blocks(seq.computed, bs)
            if new > pool.available:
                if n_dec or work.chunks:
                    break  # decodes free space as they finish; preempting now would undo them
                while new > pool.available and seq.rid in self._running:
                    self._preempt_last(j)
                    work.preempted += 1
                if seq.rid not in self._running:
                    break
            pool.allocate(new)
            work.chunks.append((seq, chunk))
            budget -= chunk
        return budget

    def _run_chunks(
        self,
        j: int,
        chunks: list[tuple[_Seq, int]],
        produced: list[str],
        first: list[str],
        finished: list[FinishedRequest],
    ) -> tuple[int, float]:
        """Compute the scheduled prefill chunks; returns (prefill tokens, attention work)."""
        bs = self.block_size
        pool = self._pool
        caching = self.config.enable_prefix_caching
        prefill_tokens = 0
        attn = 0.0
        for seq, chunk in chunks:
            start = seq.computed
            end = start + chunk
            prefill_tokens += chunk
            attn += chunk * (start + end) * 0.5
            seq.computed = end
            if caching:
                full = min(end // bs, len(seq.hashes))
                if full > seq.hashed:
                    for h in seq.hashes[seq.hashed : full]:
                        pool.promote(h)
                    seq.hashed = full
            if end == seq.target:
                del self._prefilling[seq.rid]
                seq.generated += 1
                produced.append(seq.rid)
                if seq.generated == 1:
                    first.append(seq.rid)
                if seq.generated >= seq.max_tokens:
                    del self._running[seq.rid]
                    self._release(seq, end)
                    finished.append(self._retire(seq, "length"))
                else:
                    self._start_decoding(seq, j)
        return prefill_tokens, attn

    # --- internals -------------------------------------------------------------------------

    def _admit(self, budget: int, work: _Work) -> None:
        bs = self.block_size
        pool = self._pool
        waiting = self._waiting
        running = self._running
        max_seqs = self.config.max_num_seqs
        stats = self.stats
        while waiting and budget > 0 and len(running) < max_seqs:
            seq = waiting[0]
            # vLLM always recomputes at least the last token, so a full hit gives one block back.
            hit, idle = pool.match(seq.hashes, min(len(seq.hashes), (seq.target - 1) // bs))
            computed = hit * bs
            chunk = min(seq.target - computed, budget)
            new = _blocks(computed + chunk, bs) - hit
            if new + idle > pool.available:
                break  # waiting requests never preempt running ones
            waiting.popleft()
            if hit:
                pool.acquire(seq.hashes[:hit])
            pool.allocate(new)
            seq.computed = computed
            seq.hashed = hit
            stats.prefix_cache_queries += seq.target
            stats.prefix_cache_hits += computed
            if not seq.admitted:
                seq.admitted = True
                seq.cached_tokens = computed
                stats.prompt_tokens += seq.prompt_len
                work.admitted.append(seq.rid)
            running[seq.rid] = seq
            self._prefilling[seq.rid] = seq
            work.chunks.append((seq, chunk))
            budget -= chunk

    def _start_decoding(self, seq: _Seq, step_no: int) -> None:
        seq.anchor = step_no
        seq.offset = seq.target - step_no
        self._offset_sum += seq.offset
        seq.residue = (step_no + 1 - seq.target) % self.block_size
        self._cross[seq.residue] += 1
        seq.epoch += 1
        finish = step_no + seq.max_tokens - seq.generated
        heapq.heappush(self._finish_heap, (finish, seq.order, seq.epoch, seq))
        self._decoding[seq.rid] = seq

    def _stop_decoding(self, seq: _Seq) -> None:
        del self._decoding[seq.rid]
        self._offset_sum -= seq.offset
        self._cross[seq.residue] -= 1
        seq.epoch += 1
        seq.anchor = -1

    def _preempt_last(self, step_no: int) -> _Seq:
        """Recompute-preempt the most recently admitted request (vLLM V1's policy)."""
        rid, seq = self._running.popitem()
        if rid in self._decoding:
            done = step_no - 1 - seq.anchor  # decode steps it completed
            kv = seq.target + done
            seq.generated += done
            self._stop_decoding(seq)
        else:
            kv = seq.computed
            del self._prefilling[rid]
        self._release(seq, kv)
        seq.target = seq.prompt_len + seq.generated
        seq.computed = 0
        seq.preemptions += 1
        self.stats.preemptions += 1
        self._waiting.appendleft(seq)
        return seq

    def _release(self, seq: _Seq, kv_tokens: int) -> None:
        self._pool.release_private(_blocks(kv_tokens, self.block_size) - seq.hashed)
        if seq.hashed:
            self._pool.release(seq.hashes[: seq.hashed])
        seq.hashed = 0

    def _retire(self, seq: _Seq, reason: str) -> FinishedRequest:
        del self._by_id[seq.rid]
        return FinishedRequest(
            request_id=seq.rid,
            prompt_tokens=seq.prompt_len,
            generation_tokens=seq.generated,
            cached_tokens=seq.cached_tokens,
            finish_reason=reason,
            num_preemptions=seq.preemptions,
        )
