"""weight-filter: zero-weight endpoints take no new requests unless all are zero."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext, NoParams
from heteropool.scheduling.plugins.filters.weight import WeightFilter

from ..conftest import make_request, make_view


@pytest.mark.parametrize(
    ("weights", "kept"),
    [({"a": 0.0, "b": 1.0}, ["b"]), ({"a": None, "b": 0.0}, ["a"]), ({"a": 0.0, "b": 0.0}, ["a", "b"])],
    ids=["drops-zero", "none-is-default", "all-zero-keeps-all"],
)
def test_weight_filter(weights: dict[str, float | None], kept: list[str]) -> None:
    views = [make_view(k, capacity_multiplier=w) for k, w in weights.items()]
    out = WeightFilter(NoParams()).filter(CycleContext(make_request()), views)
    assert [v.id for v in out] == kept
