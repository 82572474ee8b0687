"""prefix-cache-scorer: matched blocks / total blocks (llm-d)."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext, NoParams, PrefixMatch
from heteropool.scheduling.plugins.scorers.prefix_cache import PrefixCacheScorer

from ..conftest import make_request, make_view


@pytest.mark.parametrize(
    ("matched", "total", "expected"),
    [({"a": 4}, 8, {"a": 0.5, "b": 0.0}), ({}, 8, {"a": 0.0, "b": 0.0}), ({}, 0, {})],
    ids=["half", "cold", "empty-prompt"],
)
def test_prefix_cache_scores(matched: dict[str, int], total: int, expected: dict[str, float]) -> None:
    ctx = CycleContext(make_request())
    ctx.prefix = PrefixMatch(
        block_chars=64, hashes=[0] * total, prompt_chars=64 * total, matched_blocks=matched, total_blocks=total
    )
    assert PrefixCacheScorer(NoParams()).score(ctx, [make_view("a"), make_view("b")]) == expected
