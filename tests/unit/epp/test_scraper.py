"""parse_engine_load: the gateway's load view from a vLLM /metrics text."""

from __future__ import annotations

import pytest

from heteropool.vllm_metrics import EngineLoad, parse_engine_load

_TEXT = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
vllm:num_requests_waiting{engine="0",model_name="m"} 4.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.75
vllm:generation_tokens_total{model_name="m"} 123.0
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_TEXT, EngineLoad(running=5, waiting=4, kv_usage=0.75)),
        ("vllm:gpu_cache_usage_perc 0.2\nvllm:num_requests_waiting 1\n", EngineLoad(None, 1, 0.2)),
        ("", EngineLoad(None, None, None)),
    ],
    ids=["engines-summed", "old-names-no-labels", "empty"],
)
def test_parse(text: str, expected: EngineLoad) -> None:
    assert parse_engine_load(text) == expected
