"""vLLM /metrics text -> EngineSample: engine aggregation, renamed series, garbage."""

from __future__ import annotations

import pytest

from heteropool.vllm_metrics import HistogramTotals, ScrapeError, parse_vllm_metrics


def _exposition(*, engines: tuple[str, ...] = ("0",), old_names: bool = False, engine_label: bool = True) -> str:
    kv = "vllm:gpu_cache_usage_perc" if old_names else "vllm:kv_cache_usage_perc"
    itl = "vllm:time_per_output_token_seconds" if old_names else "vllm:inter_token_latency_seconds"
    lines = [
        "# HELP vllm:num_requests_running Number of requests in model execution batches.",
        "# TYPE vllm:num_requests_running gauge",
    ]

    def labels(e: str, extra: str = "") -> str:
        parts = ['model_name="granite"'] + ([f'engine="{e}"'] if engine_label else []) + ([extra] if extra else [])
        return "{" + ",".join(parts) + "}"

    for e in engines:
        lines.append(f"vllm:num_requests_running{labels(e)} 3.0")
    lines += ["# TYPE vllm:num_requests_waiting gauge"] + [f"vllm:num_requests_waiting{labels(e)} 1.0" for e in engines]
    lines += [f"# TYPE {kv} gauge"] + [f"{kv}{labels(e)} 0.{2 + int(e)}" for e in engines]
    for name, value in (
        ("generation_tokens", 1000.0),
        ("prompt_tokens", 5000.0),
        ("prefix_cache_hits", 2000.0),
        ("prefix_cache_queries", 4000.0),
        ("num_preemptions", 1.0),
    ):
        lines += [f"# TYPE vllm:{name} counter"] + [f"vllm:{name}_total{labels(e)} {value}" for e in engines]
    lines.append("# TYPE vllm:request_success counter")
    for e in engines:
        for reason in ("stop", "length"):
            lines.append("vllm:request_success_total" + labels(e, 'finished_reason="' + reason + '"') + " 5.0")
    for name, total, count in (
        (itl, 20.0, 990.0),
        ("vllm:time_to_first_token_seconds", 3.0, 10.0),
        ("vllm:e2e_request_latency_seconds", 30.0, 10.0),
    ):
        lines.append(f"# TYPE {name} histogram")
        for e in engines:
            one, inf = labels(e, 'le="1.0"'), labels(e, 'le="+Inf"')
            lines += [
                f"{name}_bucket{one} {count}",
                f"{name}_bucket{inf} {count}",
                f"{name}_sum{labels(e)} {total}",
                f"{name}_count{labels(e)} {count}",
            ]
    lines.append("# TYPE vllm:cache_config_info gauge")
    for e in engines:
        eng = f',engine="{e}"' if engine_label else ""
        lines.append(
            f'vllm:cache_config_info{{block_size="16",enable_prefix_caching="True",num_gpu_blocks="1000"{eng}}} 1.0'
        )
    lines.append('# TYPE python_gc_objects_collected counter\npython_gc_objects_collected_total{generation="0"} 7.0')
    return "\n".join(lines) + "\n"


def test_single_engine_sample() -> None:
    s = parse_vllm_metrics(_exposition())
    assert (s.running, s.waiting, s.kv_cache_usage) == (3.0, 1.0, 0.2)
    assert (s.generation_tokens_total, s.prompt_tokens_total) == (1000.0, 5000.0)
    assert (s.prefix_cache_hits_total, s.prefix_cache_queries_total, s.preemptions_total) == (2000.0, 4000.0, 1.0)
    assert s.requests_finished_total == 10.0
    assert s.inter_token_latency == HistogramTotals(20.0, 990.0)
    assert s.ttft == HistogramTotals(3.0, 10.0) and s.e2e_latency == HistogramTotals(30.0, 10.0)
    assert (s.block_size, s.num_gpu_blocks, s.kv_capacity_tokens) == (16, 1000, 16_000)
    assert s.model_names == {"granite"} and s.engines == 1


def test_engines_are_summed_and_kv_usage_averaged() -> None:
    s = parse_vllm_metrics(_exposition(engines=("0", "1")))
    assert (s.running, s.generation_tokens_total, s.engines) == (6.0, 2000.0, 2)
    assert s.inter_token_latency == HistogramTotals(40.0, 1980.0)
    assert s.kv_cache_usage == pytest.approx(0.25)
    assert s.num_gpu_blocks == 2000  # each engine has its own KV cache


def test_old_metric_names_are_accepted() -> None:
    s = parse_vllm_metrics(_exposition(old_names=True))
    assert s.kv_cache_usage == 0.2
    assert s.inter_token_latency == HistogramTotals(20.0, 990.0)


def test_engine_label_is_not_required() -> None:
    s = parse_vllm_metrics(_exposition(engine_label=False))
    assert (s.running, s.engines, s.block_size) == (3.0, 1, 16)


def test_new_name_wins_when_both_are_exposed() -> None:
    text = _exposition() + '# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{engine="0"} 0.9\n'
    assert parse_vllm_metrics(text).kv_cache_usage == 0.2


def test_model_filter_skips_other_models() -> None:
    text = _exposition() + 'vllm:num_requests_running{model_name="other",engine="0"} 50.0\n'
    assert parse_vllm_metrics(text, model_name="granite").running == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<html><body>502 Bad Gateway</body></html>", "not Prometheus text format"),
        ("", "no vLLM engine metrics"),
        ("# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total 1.0\n", "no vLLM engine metrics"),
        ('vllm:cache_config_info{block_size="x"} 1.0\n', "block_size/num_gpu_blocks not integers"),
    ],
    ids=["html", "empty", "not-vllm", "bad-cache-info"],
)
def test_garbage_raises_scrape_error_saying_why(text: str, message: str) -> None:
    with pytest.raises(ScrapeError, match=message):
        parse_vllm_metrics(text)


def test_parses_the_simulator_exposition() -> None:
    from heteropool.sim.engine import Engine, EngineConfig
    from heteropool.sim.metrics import SimMetrics
    from heteropool.sim.profiles import build_profile

    profile = build_profile("gaudi3")
    engine = Engine(EngineConfig.from_profile(profile))
    metrics = SimMetrics(
        engine, model_name="m", cache_config={"block_size": "128", "num_gpu_blocks": "100"}, max_model_len=4096
    )
    metrics.itl.observe(0.02, 50)
    s = parse_vllm_metrics(metrics.exposition().decode())
    assert s.inter_token_latency == HistogramTotals(pytest.approx(1.0), 50.0)
    assert (s.block_size, s.num_gpu_blocks, s.running) == (128, 100, 0.0)
