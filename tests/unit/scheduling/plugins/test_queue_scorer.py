"""queue-scorer: min-max on scraped num_requests_waiting (llm-d)."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext, NoParams
from heteropool.scheduling.plugins.scorers.queue import QueueScorer

from ..conftest import make_request, make_view


@pytest.mark.parametrize(
    ("waiting", "expected"),
    [
        ({"a": 0, "b": 10, "c": 5}, {"a": 1.0, "b": 0.0, "c": 0.5}),
        ({"a": 3, "b": 3}, {"a": 1.0, "b": 1.0}),
        ({"a": None, "b": 4}, {"a": 1.0, "b": 0.0}),
    ],
    ids=["min-max", "all-equal", "unscraped-is-zero"],
)
def test_queue_scores(waiting: dict[str, int | None], expected: dict[str, float]) -> None:
    views = [make_view(k, num_waiting=v) for k, v in waiting.items()]
    assert QueueScorer(NoParams()).score(CycleContext(make_request()), views) == pytest.approx(expected)
