"""vLLM's Prometheus metrics for one simulated replica, on a private registry.

Names, types, labels and histogram buckets follow vLLM V1 (`vllm/v1/metrics/loggers.py` in vLLM;
docs/weights.md, "Metrics read"). Counters are read from the engine at scrape time and the
histograms are plain arrays, so the engine's hot path never touches prometheus_client.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from heteropool.sim.engine import Engine

__all__ = [
    "Histogram",
    "SimMetrics",
    "TTFT_BUCKETS_S",
    "ITL_BUCKETS_S",
    "REQUEST_LATENCY_BUCKETS_S",
    "ITERATION_TOKENS_BUCKETS",
    "one_two_five_buckets",
]

TTFT_BUCKETS_S = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
    80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
ITL_BUCKETS_S = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
    80.0,
)  # fmt: skip
REQUEST_LATENCY_BUCKETS_S = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
    960.0, 1920.0, 7680.0,
)  # fmt: skip
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


class SimMetrics:
    """The vLLM metric set of one replica. `collect()` is called by the registry on each scrape."""

    def __init__(
        self,
        engine: Engine,
        *,
        model_name: str,
        cache_config: Mapping[str, str],
        max_model_len: int,
    ) -> None:
        self._engine = engine
        self._labels = [model_name, "0"]
        self._cache_config = dict(cache_config)
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
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def exposition(self) -> bytes:
        """The text format of every metric (what GET /metrics returns)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        eng = self._engine
        stats = eng.stats
        labels = ["model_name", "engine"]
        values = self._labels
        for name, help_text, value in (
            ("vllm:num_requests_running", "Number of requests in model execution batches.", eng.num_running),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", eng.num_waiting),
            ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", eng.kv_usage()),
        ):
            g = GaugeMetricFamily(name, help_text, labels=labels)
            g.add_metric(values, value)
            yield g
        for name, help_text, count in (
            ("vllm:prompt_tokens", "Number of prefill tokens processed.", stats.prompt_tokens),
            ("vllm:generation_tokens", "Number of generation tokens processed.", stats.generation_tokens),
            (
                "vllm:prefix_cache_queries",
                "Prefix cache queries, in terms of number of queried tokens.",
                stats.prefix_cache_queries,
            ),
            (
                "vllm:prefix_cache_hits",
                "Prefix cache hits, in terms of number of cached tokens.",
                stats.prefix_cache_hits,
            ),
            ("vllm:num_preemptions", "Cumulative number of preemption from the engine.", stats.preemptions),
        ):
            c = CounterMetricFamily(name, help_text, labels=labels)
            c.add_metric(values, count)
            yield c
        success = CounterMetricFamily(
            "vllm:request_success",
            "Count of successfully processed requests.",
            labels=[*labels, "finished_reason"],
        )
        for reason, count in self.success.items():
            success.add_metric([*values, reason], count)
        yield success
        for attr, name, help_text in _HISTOGRAMS:
            hist: Histogram = getattr(self, attr)
            h = HistogramMetricFamily(name, help_text, labels=labels)
            h.add_metric(values, hist.cumulative(), hist.total)
            yield h
        info = GaugeMetricFamily(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            labels=[*self._cache_config, "engine"],
        )
        info.add_metric([*self._cache_config.values(), "0"], 1.0)
        yield info

    def describe(self) -> Iterable[Metric]:
        return ()
