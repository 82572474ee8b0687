"""Parse one vLLM replica's `/metrics` text into an `EngineSample` (pure: no I/O).

Follows docs/weights.md ("Metrics read"): series are summed over the
`engine` label (data-parallel engines of one pod) without requiring it, and the renamed series
are accepted under their old names (`vllm:gpu_cache_usage_perc`,
`vllm:time_per_output_token_seconds`, `vllm:gpu_prefix_cache_*`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["ScrapeError", "HistogramTotals", "EngineSample", "parse_vllm_metrics", "EngineLoad", "parse_engine_load"]


class ScrapeError(Exception):
    """A replica's metrics could not be read or understood; the message says why."""


@dataclass(frozen=True, slots=True)
class HistogramTotals:
    """`_sum` and `_count` of one histogram, summed over label sets (engines)."""

    sum: float
    count: float

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count > 0 else None


@dataclass(frozen=True, slots=True)
class EngineSample:
    """What one scrape of one replica says, aggregated over its engines.

    Counters and histograms are cumulative (rates come from two samples, see `weights`);
    `None` means the replica does not expose the series.
    """

    running: float | None = None
    waiting: float | None = None
    kv_cache_usage: float | None = None
    generation_tokens_total: float | None = None
    prompt_tokens_total: float | None = None
    prefix_cache_hits_total: float | None = None
    prefix_cache_queries_total: float | None = None
    preemptions_total: float | None = None
    requests_finished_total: float | None = None
    ttft: HistogramTotals | None = None
    inter_token_latency: HistogramTotals | None = None
    e2e_latency: HistogramTotals | None = None
    prefill_time: HistogramTotals | None = None
    decode_time: HistogramTotals | None = None
    block_size: int | None = None
    num_gpu_blocks: int | None = None
    engines: int = 1
    model_names: frozenset[str] = frozenset()

    @property
    def kv_capacity_tokens(self) -> int | None:
        """KV cache size in tokens (`num_gpu_blocks x block_size`), if the replica says."""
        if self.block_size is None or self.num_gpu_blocks is None:
            return None
        return self.block_size * self.num_gpu_blocks


# exposed sample name -> field; the first name of each pair wins over the deprecated second.
_GAUGES = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
}
_KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
_COUNTERS: dict[str, tuple[str, ...]] = {
    "generation_tokens_total": ("vllm:generation_tokens_total",),
    "prompt_tokens_total": ("vllm:prompt_tokens_total",),
    "prefix_cache_hits_total": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "prefix_cache_queries_total": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    "preemptions_total": ("vllm:num_preemptions_total",),
    "requests_finished_total": ("vllm:request_success_total",),
}
_HISTOGRAMS: dict[str, tuple[str, ...]] = {
    "ttft": ("vllm:time_to_first_token_seconds",),
    "inter_token_latency": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    "e2e_latency": ("vllm:e2e_request_latency_seconds",),
    "prefill_time": ("vllm:request_prefill_time_seconds",),
    "decode_time": ("vllm:request_decode_time_seconds",),
}
_CACHE_INFO = "vllm:cache_config_info"


def _samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                yield s.name, s.labels, float(s.value)
    except ValueError as exc:
        raise ScrapeError(f"not Prometheus text format: {exc}") from None


def _first(sums: dict[str, float], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in sums:
            return sums[name]
    return None


def parse_vllm_metrics(text: str, *, model_name: str | None = None) -> EngineSample:
    """Aggregate a vLLM `/metrics` exposition into one `EngineSample`.

    Args:
        text: the response body of `GET /metrics`.
        model_name: only count series whose `model_name` label equals it (series without the
            label always count). None counts every model.

    Raises:
        ScrapeError: the text is not Prometheus format, or holds no vLLM engine series.
    """
    sums: dict[str, float] = {}
    block_size: int | None = None
    num_gpu_blocks = 0
    have_blocks = False
    engines: set[str] = set()
    models: set[str] = set()
    wanted_hist = {f"{n}{suffix}" for names in _HISTOGRAMS.values() for n in names for suffix in ("_sum", "_count")}
    wanted = set(_GAUGES) | set(_KV_USAGE) | {n for names in _COUNTERS.values() for n in names} | wanted_hist
    for name, labels, value in _samples(text):
        if not name.startswith("vllm:"):
            continue
        label_model = labels.get("model_name")
        if model_name is not None and label_model is not None and label_model != model_name:
            continue
        if label_model is not None:
            models.add(label_model)
        if "engine" in labels:
            engines.add(labels["engine"])
        if name == _CACHE_INFO:
            try:
                if "block_size" in labels:
                    block_size = int(labels["block_size"])
                if "num_gpu_blocks" in labels and labels["num_gpu_blocks"] not in ("", "None"):
                    num_gpu_blocks += int(labels["num_gpu_blocks"])
                    have_blocks = True
            except ValueError:
                raise ScrapeError(f"{_CACHE_INFO}: block_size/num_gpu_blocks not integers: {labels}") from None
            continue
        if name not in wanted:
            continue
        sums[name] = sums.get(name, 0.0) + value
    if not sums and block_size is None:
        raise ScrapeError("no vLLM engine metrics (vllm:*) in the response")
    counters = {field: _first(sums, names) for field, names in _COUNTERS.items()}
    hists: dict[str, HistogramTotals | None] = {}
    for field, names in _HISTOGRAMS.items():
        hists[field] = None
        for n in names:
            if f"{n}_count" in sums:
                hists[field] = HistogramTotals(sum=sums.get(f"{n}_sum", 0.0), count=sums[f"{n}_count"])
                break
    return EngineSample(
        running=sums.get("vllm:num_requests_running"),
        waiting=sums.get("vllm:num_requests_waiting"),
        kv_cache_usage=_kv_usage(sums, len(engines) or 1),
        ttft=hists["ttft"],
        inter_token_latency=hists["inter_token_latency"],
        e2e_latency=hists["e2e_latency"],
        prefill_time=hists["prefill_time"],
        decode_time=hists["decode_time"],
        block_size=block_size,
        num_gpu_blocks=num_gpu_blocks if have_blocks else None,
        engines=len(engines) or 1,
        model_names=frozenset(models),
        **counters,
    )


@dataclass(frozen=True, slots=True)
class EngineLoad:
    """The three gauges a router refreshes its load view from (running/waiting summed over engines,
    KV usage the fullest engine's)."""

    running: int | None
    waiting: int | None
    kv_usage: float | None


def parse_engine_load(text: str) -> EngineLoad:
    """Only the load gauges, by a line scan: cheap enough for the gateway's frequent scrapes.

    Never raises: lines it cannot read are skipped, and absent series are None.
    """
    found: dict[str, float] = {}
    kv: float | None = None
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        name_end = line.find("{")
        if name_end < 0:
            name_end = line.find(" ")
        name = line[:name_end]
        rest = line[line.rindex("}") + 1 :] if "}" in line else line[name_end:]
        try:
            value = float(rest.split()[0])
        except (ValueError, IndexError):
            continue
        if name in _GAUGES:
            found[name] = found.get(name, 0.0) + value
        elif name in _KV_USAGE:
            kv = value if kv is None else max(kv, value)
    running, waiting = found.get("vllm:num_requests_running"), found.get("vllm:num_requests_waiting")
    return EngineLoad(
        running=None if running is None else int(running),
        waiting=None if waiting is None else int(waiting),
        kv_usage=kv,
    )


def _kv_usage(sums: dict[str, float], engines: int) -> float | None:
    """Mean KV usage over engines (each engine has its own cache), new name before the old one."""
    for name in _KV_USAGE:
        if name in sums:
            return min(1.0, max(0.0, sums[name] / engines))
    return None
