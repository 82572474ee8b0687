"""kv-cache-utilization-scorer: 1 - scraped KV usage (llm-d)."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext, NoParams
from heteropool.scheduling.plugins.scorers.kv_cache_utilization import (
    KvCacheUtilizationScorer,
)

from ..conftest import make_request, make_view


@pytest.mark.parametrize(
    ("usage", "expected"), [(0.25, 0.75), (1.0, 0.0), (None, 1.0)], ids=["quarter", "full", "unscraped"]
)
def test_kv_scores(usage: float | None, expected: float) -> None:
    scorer = KvCacheUtilizationScorer(NoParams())
    assert scorer.score(CycleContext(make_request()), [make_view("a", kv_cache_usage=usage)]) == {"a": expected}
