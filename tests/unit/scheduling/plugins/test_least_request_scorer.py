"""least-request-scorer: min-max on gateway-counted in-flight requests."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext, NoParams
from heteropool.scheduling.plugins.scorers.least_request import LeastRequestScorer

from ..conftest import make_request, make_view


@pytest.mark.parametrize(
    ("in_flight", "expected"),
    [({"a": 1, "b": 3}, {"a": 1.0, "b": 0.0}), ({"a": 2, "b": 2}, {"a": 1.0, "b": 1.0})],
    ids=["fewest-wins", "tie"],
)
def test_least_request_scores(in_flight: dict[str, int], expected: dict[str, float]) -> None:
    views = [make_view(k, in_flight=v) for k, v in in_flight.items()]
    assert LeastRequestScorer(NoParams()).score(CycleContext(make_request()), views) == expected
