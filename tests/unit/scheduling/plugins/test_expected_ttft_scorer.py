"""expected-ttft-scorer: (queued prefill + this request's uncached tokens) / prefill speed."""

from __future__ import annotations

import pytest

from heteropool.scheduling.framework import CycleContext, PrefixMatch
from heteropool.scheduling.plugins.scorers.expected_ttft import ExpectedTtftParams, ExpectedTtftScorer, expected_ttft_s

from ..conftest import make_request, make_view

H100, MI325X = 30_000.0, 6_000.0


def _ctx(prompt_tokens: int, credited_tokens: dict[str, int] | None = None) -> CycleContext:
    ctx = CycleContext(make_request("x" * prompt_tokens * 4))
    if credited_tokens is not None:
        ctx.prefix = PrefixMatch(
            block_chars=64,
            hashes=[],
            prompt_chars=prompt_tokens * 4,
            credited_chars={k: v * 4 for k, v in credited_tokens.items()},
        )
    return ctx


@pytest.mark.parametrize(
    ("prompt", "credited", "endpoints", "expected_s"),
    [
        # idle, cold 6000-token prompt: 0.2 s on the H100, 1 s on the MI325X
        (6000, None, [("h", H100, 0), ("m", MI325X, 0)], {"h": 0.2, "m": 1.0}),
        # the same queue (30,000 tokens) is a 1 s wait on the H100 and 5 s on the MI325X
        (0, None, [("h", H100, 30_000), ("m", MI325X, 30_000)], {"h": 1.0, "m": 5.0}),
        # cached on the MI325X (5400 of 6000 in its own blocks): 0.1 s there, cold H100 0.2 s
        (6000, {"m": 5400}, [("h", H100, 0), ("m", MI325X, 0)], {"h": 0.2, "m": 0.1}),
        # an unknown rate gets the mean of the known ones
        (3600, None, [("h", H100, 0), ("u", None, 0)], {"h": 0.12, "u": 0.12}),
    ],
    ids=["cold-prompt", "same-queue-different-wait", "cached-share", "unknown-rate-gets-mean"],
)
def test_expected_ttft(
    prompt: int,
    credited: dict[str, int] | None,
    endpoints: list[tuple[str, float | None, int]],
    expected_s: dict[str, float],
) -> None:
    views = [make_view(i, prefill_tokens_per_s=r, queued_prefill_tokens=q) for i, r, q in endpoints]
    assert expected_ttft_s(_ctx(prompt, credited), views) == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("tolerance", "endpoints", "expected"),
    [
        # 0.2 s vs 1.0 s: (0.2 + 0.1) / (1.0 + 0.1)
        (0.1, [("h", H100, 0), ("m", MI325X, 0)], {"h": 1.0, "m": 0.3 / 1.1}),
        # the H100's queue outweighs its speed: 90,000 queued tokens = 3.2 s vs 1.0 s
        (0.1, [("h", H100, 90_000), ("m", MI325X, 0)], {"h": 1.1 / 3.3, "m": 1.0}),
        # a large tolerance flattens differences
        (10.0, [("h", H100, 0), ("m", MI325X, 0)], {"h": 1.0, "m": 10.2 / 11.0}),
        # no rate known anywhere: the scorer abstains
        (0.1, [("h", None, 0), ("m", None, 0)], {}),
    ],
    ids=["faster-wins", "queue-counts", "tolerance", "abstains"],
)
def test_scores(tolerance: float, endpoints: list[tuple[str, float | None, int]], expected: dict[str, float]) -> None:
    scorer = ExpectedTtftScorer(ExpectedTtftParams(toleranceSeconds=tolerance))
    views = [make_view(i, prefill_tokens_per_s=r, queued_prefill_tokens=q) for i, r, q in endpoints]
    assert scorer.score(_ctx(6000), views) == pytest.approx(expected)
