"""prefix-affinity-scorer: credited (whole own-size blocks) share of the prompt."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext, NoParams, PrefixMatch
from heteropool.scheduling.plugins.scorers.prefix_affinity import PrefixAffinityScorer

from ..conftest import make_request, make_view


@pytest.mark.parametrize(
    ("credited", "expected"),
    [({"a": 512, "b": 768}, {"a": 0.5, "b": 0.75}), ({}, {}), ({"a": 2048}, {"a": 1.0})],
    ids=["shares", "cold", "clamped"],
)
def test_prefix_affinity_scores(credited: dict[str, int], expected: dict[str, float]) -> None:
    ctx = CycleContext(make_request())
    ctx.prefix = PrefixMatch(block_chars=128, hashes=[1], prompt_chars=1024, credited_chars=credited)
    assert PrefixAffinityScorer(NoParams()).score(ctx, [make_view("a"), make_view("b")]) == expected
