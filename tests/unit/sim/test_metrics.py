from prometheus_client.parser import text_string_to_metric_families

from heteropool.sim.engine import Engine
from heteropool.sim.metrics import Histogram, SimMetrics, one_two_five_buckets


def test_one_two_five_buckets_stop_at_max_model_len() -> None:
    assert one_two_five_buckets(1000) == (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def test_histogram_counts_repeated_samples_in_one_call() -> None:
    h = Histogram((0.1, 1.0))
    h.observe(0.5, count=3)
    h.observe(2.0)
    assert h.cumulative() == [("0.1", 0), ("1.0", 3), ("+Inf", 4)]
    assert h.total == 3.5


def test_exposition_has_vllm_names_types_and_labels(make_engine) -> None:  # type: ignore[no-untyped-def]
    eng: Engine = make_engine()
    eng.add_request("a", 40, [], max_tokens=3)
    while eng.step() is not None:
        pass
    m = SimMetrics(eng, model_name="m", cache_config={"block_size": "16", "num_gpu_blocks": "1000"}, max_model_len=4096)
    fams = {f.name: f for f in text_string_to_metric_families(m.exposition().decode())}
    assert fams["vllm:generation_tokens"].type == "counter"
    assert fams["vllm:kv_cache_usage_perc"].type == "gauge"
    assert fams["vllm:time_to_first_token_seconds"].type == "histogram"
    total = [s for s in fams["vllm:generation_tokens"].samples if s.name == "vllm:generation_tokens_total"]
    assert total[0].value == 3 and total[0].labels == {"model_name": "m", "engine": "0"}
    assert fams["vllm:cache_config_info"].samples[0].labels == {
        "block_size": "16",
        "num_gpu_blocks": "1000",
        "engine": "0",
    }


def test_histograms_and_success_counts_read_back_from_the_text(make_engine) -> None:  # type: ignore[no-untyped-def]
    m = SimMetrics(make_engine(), model_name="m", cache_config={}, max_model_len=4096)
    m.ttft.observe(0.003, count=2)
    m.ttft.observe(30.0)
    m.success["length"] = 5
    fams = {f.name: f for f in text_string_to_metric_families(m.exposition().decode())}
    ttft = {(s.name, s.labels.get("le")): s.value for s in fams["vllm:time_to_first_token_seconds"].samples}
    assert ttft[("vllm:time_to_first_token_seconds_bucket", "0.001")] == 0
    assert ttft[("vllm:time_to_first_token_seconds_bucket", "0.005")] == 2
    assert ttft[("vllm:time_to_first_token_seconds_bucket", "+Inf")] == 3
    assert ttft[("vllm:time_to_first_token_seconds_count", None)] == 3
    assert ttft[("vllm:time_to_first_token_seconds_sum", None)] == 30.006
    success = {s.labels["finished_reason"]: s.value for s in fams["vllm:request_success"].samples}
    assert success == {"stop": 0, "length": 5, "abort": 0}
