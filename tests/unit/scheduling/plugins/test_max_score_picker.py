"""max-score-picker: highest total wins; ties broken by the injected RNG."""

from __future__ import annotations

import random

from heteropool.scheduling.framework import CycleContext, NoParams
from heteropool.scheduling.plugins.pickers.max_score import MaxScorePicker

from ..conftest import make_request, make_view


def test_highest_total_wins() -> None:
    picker = MaxScorePicker(NoParams(), random.Random(0))
    views = [make_view("a"), make_view("b"), make_view("c")]
    assert picker.pick(CycleContext(make_request()), views, [0.1, 0.9, 0.5]).id == "b"


def test_ties_are_broken_at_random_and_reproducibly() -> None:
    views = [make_view("a"), make_view("b"), make_view("c")]
    runs = []
    for _ in range(2):
        picker = MaxScorePicker(NoParams(), random.Random(42))
        runs.append([picker.pick(CycleContext(make_request()), views, [1.0, 1.0, 0.0]).id for _ in range(50)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"a", "b"}
