"""vLLM's Prometheus metrics for one simulated replica, in the Prometheus text format.

Names, types, labels and histogram buckets follow vLLM V1 (`vllm/v1/metrics/loggers.py` in vLLM;
docs/weights.md, "Metrics read"). Counters are read from the engine at scrape time and the
histograms are plain arrays, so the engine's hot path never touches a metrics library.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, cast

from prometheus_client.utils import floatToGoString

from heteropool.sim.engine import EngineStats

__all__ = [
    "Histogram",
    "ReplicaLoad",
    "SimMetrics",
    "TTFT_BUCKETS_S",
    "ITL_BUCKETS_S",
    "REQUEST_LATENCY_BUCKETS_S",
    "ITERATION_TOKENS_BUCKETS",
    "one_two_five_buckets",
]

TTFT_BUCKETS_S = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
ITL_BUCKETS_S = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)
REQUEST_LATENCY_BUCKETS_S = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)
ITERATION_TOKENS_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
FINISH_REASONS = ("stop", "length", "abort")


def one_two_five_buckets(max_value: int) -> tuple[int, ...]:
    """vLLM's `build_1_2_5_buckets`: 1, 2, 5, 10, 20, 50, ... up to max_value."""
    out: list[int] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return tuple(out)
            out.append(value)
        exponent += 1


class Histogram:
    """Bucket counts with `observe(value, count)`: one call records many equal samples."""

    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float, count: int = 1) -> None:
        self.counts[bisect_left(self.bounds, value)] += count
        self.total += value * count
        self.count += count

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((_le(bound), running))
        out.append(("+Inf", self.count))
        return out


# A sample value as Prometheus clients write it (Go's float formatting: 1.0, 1e+06, +Inf).
_number = cast("Callable[[float], str]", floatToGoString)


def _le(bound: float) -> str:
    return str(float(bound))


_HISTOGRAMS: tuple[tuple[str, str, str], ...] = (
    # attribute, exposed name, help
    ("ttft", "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds."),
    ("itl", "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds."),
    ("e2e", "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds."),
    ("queue", "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request."),
    ("inference", "vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request."),
    ("prefill", "vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request."),
    ("decode", "vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request."),
    ("tpot", "vllm:request_time_per_output_token_seconds", "Histogram of time_per_output_token_seconds per request."),
    ("prompt_tokens", "vllm:request_prompt_tokens", "Number of prefill tokens processed."),
    ("generation_tokens", "vllm:request_generation_tokens", "Number of generation tokens processed."),
    ("max_tokens", "vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter."),
    ("iteration_tokens", "vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step."),
)


class ReplicaLoad(Protocol):
    """What a scrape reads of a replica's load: the `Engine`, or the driver that stands in for one."""

    @property
    def stats(self) -> EngineStats: ...

    @property
    def num_running(self) -> int: ...

    @property
    def num_waiting(self) -> int: ...

    def kv_usage(self) -> float: ...


class SimMetrics:
    """The vLLM metric set of one replica, rendered in Prometheus' text format on each scrape.

    The text is written directly from strings built once (names, help, label sets, bucket bounds):
    a scrape costs a fraction of prometheus_client's generic rendering, which counts when one process
    serves many replicas (`heteropool sim --ports`) and a picker scrapes each one every 250 ms.
    """

    def __init__(
        self,
        engine: ReplicaLoad,
        *,
        model_name: str,
        cache_config: Mapping[str, str],
        max_model_len: int,
    ) -> None:
        self._engine = engine
        self.ttft = Histogram(TTFT_BUCKETS_S)
        self.itl = Histogram(ITL_BUCKETS_S)
        self.tpot = Histogram(ITL_BUCKETS_S)
        self.e2e = Histogram(REQUEST_LATENCY_BUCKETS_S)
        self.queue = Histogram(REQUEST_LATENCY_BUCKETS_S)
        self.inference = Histogram(REQUEST_LATENCY_BUCKETS_S)
        self.prefill = Histogram(REQUEST_LATENCY_BUCKETS_S)
        self.decode = Histogram(REQUEST_LATENCY_BUCKETS_S)
        token_buckets = one_two_five_buckets(max_model_len)
        self.prompt_tokens = Histogram(token_buckets)
        self.generation_tokens = Histogram(token_buckets)
        self.max_tokens = Histogram(token_buckets)
        self.iteration_tokens = Histogram(ITERATION_TOKENS_BUCKETS)
        self.success: dict[str, int] = dict.fromkeys(FINISH_REASONS, 0)
        model = f'model_name="{_escape(model_name)}"'
        labels = f'{{engine="0",{model}}}'
        self._scalars = [
            (f"{_header(name, help_text, kind)}{name}{labels} ", read) for name, help_text, kind, read in _SCALARS
        ]
        self._success = [
            f'vllm:request_success_total{{engine="0",finished_reason="{reason}",{model}}} ' for reason in self.success
        ]
        self._histograms = [
            (
                getattr(self, attr),
                _header(name, help_text, "histogram"),
                [f'{name}_bucket{{engine="0",le="{_le(b)}",{model}}} ' for b in getattr(self, attr).bounds]
                + [f'{name}_bucket{{engine="0",le="+Inf",{model}}} '],
                f"{name}_count{labels} ",
                f"{name}_sum{labels} ",
            )
            for attr, name, help_text in _HISTOGRAMS
        ]
        info = dict(sorted({**cache_config, "engine": "0"}.items()))
        info_labels = ",".join(f'{key}="{_escape(value)}"' for key, value in info.items())
        self._info = (
            _header("vllm:cache_config_info", "Information of the LLMEngine CacheConfig", "gauge")
            + f"vllm:cache_config_info{{{info_labels}}} 1.0\n"
        )

    def exposition(self) -> bytes:
        """The text format of every metric (what GET /metrics returns)."""
        load = self._engine
        out = [f"{line}{_number(read(load))}\n" for line, read in self._scalars]
        out.append(_SUCCESS_HEADER)
        out += [f"{line}{_number(n)}\n" for line, n in zip(self._success, self.success.values(), strict=True)]
        for hist, header, buckets, count, total in self._histograms:
            out.append(header)
            out += [f"{line}{_number(n)}\n" for line, (_bound, n) in zip(buckets, hist.cumulative(), strict=True)]
            out.append(f"{count}{_number(hist.count)}\n{total}{_number(hist.total)}\n")
        out.append(self._info)
        return "".join(out).encode()


_SCALARS: tuple[tuple[str, str, str, Callable[[ReplicaLoad], float]], ...] = (
    # exposed name, help, type, where the value comes from
    ("vllm:num_requests_running", "Number of requests in model execution batches.", "gauge", lambda e: e.num_running),
    ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", "gauge", lambda e: e.num_waiting),
    ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", "gauge", lambda e: e.kv_usage()),
    ("vllm:prompt_tokens_total", "Number of prefill tokens processed.", "counter", lambda e: e.stats.prompt_tokens),
    (
        "vllm:generation_tokens_total",
        "Number of generation tokens processed.",
        "counter",
        lambda e: e.stats.generation_tokens,
    ),
    (
        "vllm:prefix_cache_queries_total",
        "Prefix cache queries, in terms of number of queried tokens.",
        "counter",
        lambda e: e.stats.prefix_cache_queries,
    ),
    (
        "vllm:prefix_cache_hits_total",
        "Prefix cache hits, in terms of number of cached tokens.",
        "counter",
        lambda e: e.stats.prefix_cache_hits,
    ),
    (
        "vllm:num_preemptions_total",
        "Cumulative number of preemption from the engine.",
        "counter",
        lambda e: e.stats.preemptions,
    ),
)


def _header(name: str, help_text: str, kind: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_SUCCESS_HEADER = _header("vllm:request_success_total", "Count of successfully processed requests.", "counter")
