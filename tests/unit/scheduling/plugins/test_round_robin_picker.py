"""round-robin-picker: candidates in turn, ignoring scores."""

from __future__ import annotations

import random

from heteropool.scheduling.framework import CycleContext
from heteropool.scheduling.plugins.pickers.round_robin import RoundRobinParams, RoundRobinPicker

from ..conftest import make_request, make_view


def test_cycles_through_candidates() -> None:
    picker = RoundRobinPicker(RoundRobinParams(), random.Random(0))
    views = [make_view("a"), make_view("b"), make_view("c")]
    picks = [picker.pick(CycleContext(make_request()), views, [0.0] * 3).id for _ in range(6)]
    assert picks[:3] == picks[3:] and sorted(picks[:3]) == ["a", "b", "c"]


def test_random_mode_spreads_without_a_fixed_cycle() -> None:
    picker = RoundRobinPicker(RoundRobinParams(mode="random"), random.Random(0))
    views = [make_view("a"), make_view("b"), make_view("c")]
    picks = [picker.pick(CycleContext(make_request()), views, [0.0] * 3).id for _ in range(300)]
    assert all(60 < picks.count(p) < 140 for p in "abc")  # every endpoint gets a fair share
    assert picks[:3] != picks[3:6] or picks[3:6] != picks[6:9]  # but not in a fixed cycle
