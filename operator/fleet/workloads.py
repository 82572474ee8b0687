"""Workload generators for the fleet simulation: prompts as reusable text segments, Poisson arrivals.

Arrivals and the shared-prefix prompt order follow inference-perf, the harness of the published
benchmarks (docs/simulator.md, "The benchmark protocol"): a stage of `qps` x `duration_s` sends
exactly int(qps x duration_s) requests, a Poisson count per second spread evenly over that second,
and every stage walks the same shuffled prompt list from its start.

Prompts are built from one-token words (see `heteropool.sim.tokenizer`), so a requested length in
tokens is exact. Shared parts (system prompts, chat histories) are the same `str` objects in every
request that uses them, which keeps both the gateway's prefix index and our block hashing cheap.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from heteropool.sim.tokenizer import iter_output_text

__all__ = [
    "LoadStage",
    "WorkItem",
    "Workload",
    "SharedPrefixWorkload",
    "RandomWorkload",
    "ChatWorkload",
    "MixedPriorityWorkload",
    "HIGH_PRIORITY",
    "LOW_PRIORITY",
    "qps_ladder",
    "arrival_offsets",
    "build_stage_items",
]


@dataclass(frozen=True, slots=True)
class LoadStage:
    """Poisson arrivals at `qps` for `duration_s` of simulated time."""

    qps: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One request of a stage: when it arrives (from the stage start) and what it asks."""

    offset_s: float
    request_id: str
    segments: tuple[str, ...]  # the prompt is their concatenation; each starts with a space
    prompt: str
    max_tokens: int
    priority: int = 0  # higher is more important (0: the default)


class Workload(Protocol):
    """Makes the next prompt; called once per arrival, in arrival order."""

    name: str

    def start_stage(self) -> None:
        """A new load stage begins (inference-perf restarts its prompt list here)."""
        ...

    def next_prompt(self, rng: random.Random) -> tuple[tuple[str, ...], int] | tuple[tuple[str, ...], int, int]:
        """Return (prompt segments, max_tokens), or (prompt segments, max_tokens, priority)."""
        ...


def qps_ladder(start: float, stop: float, step: float, duration_s: float) -> list[LoadStage]:
    """Stages start, start+step, ... up to stop inclusive, each `duration_s` long."""
    stages = []
    qps = start
    while qps <= stop + 1e-9:
        stages.append(LoadStage(qps, duration_s))
        qps += step
    return stages


class _Words:
    """A fixed vocabulary of 1-4 letter words: each, led by a space, is exactly one token."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        letters = string.ascii_lowercase
        self.words = [" " + "".join(rng.choices(letters, k=rng.randint(1, 4))) for _ in range(4096)]

    def text(self, rng: random.Random, tokens: int) -> str:
        return "".join(rng.choices(self.words, k=tokens))


class SharedPrefixWorkload:
    """inference-perf's `shared_prefix` data: `groups` system prompts x `prompts_per_group` questions.

    As inference-perf does, the groups x prompts prompts are shuffled once, and each stage sends
    them in that order from the first (wrapping around), so a stage's first requests repeat the
    previous stage's first requests. The system prompt strings are shared objects, so identical
    prefixes cost nothing to rebuild.
    """

    name = "shared-prefix"

    def __init__(
        self,
        *,
        groups: int = 150,
        prompts_per_group: int = 5,
        system_prompt_len: int = 6000,
        question_len: int = 1200,
        output_len: int = 1000,
        seed: int = 0,
    ) -> None:
        rng = random.Random(f"shared-prefix:{seed}")
        words = _Words(seed)
        self.output_len = output_len
        self._prompts: list[tuple[str, str]] = []
        for _g in range(groups):
            system = words.text(rng, system_prompt_len)
            for _p in range(prompts_per_group):
                self._prompts.append((system, words.text(rng, question_len)))
        rng.shuffle(self._prompts)
        self._next = 0

    def start_stage(self) -> None:
        self._next = 0

    def next_prompt(self, rng: random.Random) -> tuple[tuple[str, ...], int]:
        prompt = self._prompts[self._next % len(self._prompts)]
        self._next += 1
        return prompt, self.output_len


class RandomWorkload:
    """No reuse: every prompt is fresh random text of `input_len` tokens."""

    name = "random"

    def __init__(self, *, input_len: int = 1024, output_len: int = 256, seed: int = 0) -> None:
        self._words = _Words(seed)
        self.input_len = input_len
        self.output_len = output_len

    def start_stage(self) -> None:
        pass

    def next_prompt(self, rng: random.Random) -> tuple[tuple[str, ...], int]:
        return (self._words.text(rng, self.input_len),), self.output_len


class ChatWorkload:
    """Multi-turn chat: each arrival is the next turn of a random open session.

    A turn's prompt is the session history (system prompt, earlier user turns and the simulator's
    deterministic answers) plus a new user message, so later turns reuse earlier turns' blocks.
    A session closes after `turns` turns and a new one opens in its place.
    """

    name = "chat"

    def __init__(
        self,
        *,
        sessions: int = 64,
        turns: int = 5,
        system_prompt_len: int = 1000,
        user_len: int = 200,
        output_len: int = 200,
        seed: int = 0,
    ) -> None:
        self._words = _Words(seed)
        self._rng = random.Random(f"chat:{seed}")
        self._turns = turns
        self._system_len = system_prompt_len
        self._user_len = user_len
        self.output_len = output_len
        self._answer = "".join(iter_output_text(output_len))
        self._open: list[tuple[list[str], int]] = [self._new_session() for _ in range(sessions)]

    def start_stage(self) -> None:
        pass  # open sessions carry over from stage to stage

    def _new_session(self) -> tuple[list[str], int]:
        return [self._words.text(self._rng, self._system_len)], 0

    def next_prompt(self, rng: random.Random) -> tuple[tuple[str, ...], int]:
        slot = rng.randrange(len(self._open))
        history, done = self._open[slot]
        history.append(self._words.text(rng, self._user_len))
        segments = tuple(history)
        history.append(self._answer)
        done += 1
        self._open[slot] = self._new_session() if done >= self._turns else (history, done)
        return segments, self.output_len


HIGH_PRIORITY = 1
LOW_PRIORITY = -1


class MixedPriorityWorkload:
    """Latency-sensitive chat at high priority mixed with long-context batch work at low priority.

    The shape of a pool that serves people and pipelines at once: `high_share` (20%) of requests
    are interactive chat turns (one of `apps` shared system prompts of `chat_system_len` tokens plus
    a `chat_user_len`-token message, `chat_output_len` output tokens), where a person waits for the
    first token; the rest are batch jobs over long documents (`doc_len` tokens, each document asked
    `questions_per_doc` consecutive `question_len`-token questions, `batch_output_len` output tokens),
    where only throughput matters. Batch prompts dominate the prefill work (a new document every
    few requests), which is what makes chat wait behind them when priority is ignored.
    """

    name = "mixed-priority"

    def __init__(
        self,
        *,
        high_share: float = 0.2,
        apps: int = 16,
        chat_system_len: int = 400,
        chat_user_len: int = 200,
        chat_output_len: int = 150,
        doc_len: int = 5000,
        questions_per_doc: int = 4,
        question_len: int = 200,
        batch_output_len: int = 400,
        seed: int = 0,
    ) -> None:
        rng = random.Random(f"mixed-priority:{seed}")
        self._rng = rng
        self._words = _Words(seed)
        self.high_share = high_share
        self._apps = [self._words.text(rng, chat_system_len) for _ in range(apps)]
        self._chat_user_len, self._chat_output_len = chat_user_len, chat_output_len
        self._doc_len, self._questions, self._question_len = doc_len, questions_per_doc, question_len
        self._batch_output_len = batch_output_len
        self._doc = ""
        self._asked = questions_per_doc

    def start_stage(self) -> None:
        pass  # chat apps and the document in progress carry over

    def next_prompt(self, rng: random.Random) -> tuple[tuple[str, ...], int, int]:
        if rng.random() < self.high_share:
            app = self._apps[rng.randrange(len(self._apps))]
            return (app, self._words.text(rng, self._chat_user_len)), self._chat_output_len, HIGH_PRIORITY
        if self._asked >= self._questions:
            self._doc, self._asked = self._words.text(self._rng, self._doc_len), 0
        self._asked += 1
        return (self._doc, self._words.text(rng, self._question_len)), self._batch_output_len, LOW_PRIORITY


def arrival_offsets(qps: float, duration_s: float, rng: random.Random) -> list[float]:
    """inference-perf's Poisson timer: int(qps x duration_s) send times (seconds from the stage start).

    Each second gets a Poisson(qps) count of requests spread evenly over it (a second that draws 0
    sends none); the last second may run past `duration_s` until the count is reached.
    """
    total = int(qps * duration_s)
    out: list[float] = []
    second = 0
    while len(out) < total:
        n = _poisson(qps, rng)
        out.extend(second + i / n for i in range(min(n, total - len(out))))
        second += 1
    return out


def _poisson(mean: float, rng: random.Random) -> int:
    """A Poisson draw (Knuth's method below 30, a rounded normal above: exact enough here)."""
    if mean >= 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def build_stage_items(workload: Workload, stages: Sequence[LoadStage], seed: int = 0) -> list[list[WorkItem]]:
    """The requests of every stage: inference-perf's send times and prompt order, fixed by `seed`."""
    rng = random.Random(f"arrivals:{seed}")
    out: list[list[WorkItem]] = []
    for index, stage in enumerate(stages):
        workload.start_stage()
        items: list[WorkItem] = []
        for t in arrival_offsets(stage.qps, stage.duration_s, rng):
            segments, max_tokens, *priority = workload.next_prompt(rng)
            prompt = segments[0] if len(segments) == 1 else "".join(segments)
            items.append(WorkItem(t, f"s{index}-{len(items)}", segments, prompt, max_tokens, *priority))
        out.append(items)
    return out
