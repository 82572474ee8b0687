"""spare-hardware-scorer: the slowest prefill scores highest, the fastest 0."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext, NoParams
from heteropool.scheduling.plugins.scorers.spare_hardware import SpareHardwareScorer

from ..conftest import make_request, make_view


def test_slow_hardware_scores_highest() -> None:
    views = [
        make_view("h", prefill_tokens_per_s=30_000.0),
        make_view("g", prefill_tokens_per_s=7_500.0),
        make_view("u"),
    ]
    scores = SpareHardwareScorer(NoParams()).score(CycleContext(make_request()), views)
    assert scores["h"] == 0.0
    assert scores["g"] == pytest.approx(0.75)
    assert scores["u"] == pytest.approx(1 - 18_750 / 30_000)  # unknown: the mean of the known rates


def test_abstains_without_rates() -> None:
    assert SpareHardwareScorer(NoParams()).score(CycleContext(make_request()), [make_view("a")]) == {}
