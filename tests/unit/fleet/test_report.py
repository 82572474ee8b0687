import pytest

from heteropool.fleet.report import markdown_table, percentile, summarize
from heteropool.fleet.simulation import RequestRecord, StageRecord


@pytest.mark.parametrize(("q", "expected"), [(50, 5), (99, 10), (100, 10), (1, 1)])
def test_nearest_rank_percentile(q: float, expected: float) -> None:
    assert percentile([float(i) for i in range(1, 11)], q) == expected


def test_summary_counts_throughput_failures_and_share() -> None:
    stage = StageRecord(0, 2.0, start_s=10.0, end_s=20.0)
    stage.requests = [
        RequestRecord("a", 0, 10.0, 100, endpoint="x", first_token_s=10.5, finish_s=15.0, output_tokens=10),
        RequestRecord("b", 0, 11.0, 100, endpoint="y", first_token_s=12.0, finish_s=20.0, output_tokens=30),
        RequestRecord("c", 0, 12.0, 100, error="saturated"),
    ]
    s = summarize(stage, {"x": "nvidia", "y": "amd"})
    assert s.output_tokens_per_s == 4.0 and s.completed == 2 and s.failures == 1
    assert s.ttft_mean_s == pytest.approx(0.75)
    assert s.vendor_share == {"amd": 0.5, "nvidia": 0.5}
    assert "| 2 | 3 | 1 |" in markdown_table([s])
