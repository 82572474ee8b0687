"""Retry policy of API errors: fast exponential backoff for transient ones, slow for refusals."""

from __future__ import annotations

import pytest

from heteropool.handlers.errors import Rejections, retry_delay_s
from heteropool.handlers.kube import KubeApiError


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (0, True),
        (409, True),
        (429, True),
        (500, True),
        (503, True),
        (504, True),
        (400, False),
        (403, False),
        (422, False),
    ],
)
def test_which_statuses_are_transient(status: int, retryable: bool) -> None:
    assert KubeApiError(status, "X", "m").retryable is retryable


def test_transient_errors_back_off_exponentially_up_to_a_cap() -> None:
    error = KubeApiError(500, "InternalError", "boom")
    assert [retry_delay_s(error, n) for n in (1, 2, 3, 4, 10)] == [0.5, 1.0, 2.0, 4.0, 30.0]


def test_retry_after_from_the_server_wins() -> None:
    assert retry_delay_s(KubeApiError(429, "TooManyRequests", "slow down", retry_after_s=7), 1) == 7


def test_a_refused_write_waits_longer_each_time_and_a_new_generation_retries_at_once() -> None:
    book = Rejections()
    error = KubeApiError(422, "Invalid", "spec.x: Invalid value")
    book.record("Deployment ns/a", error, now=100.0, generation=1)
    assert book.waiting(105.0, generation=1) == {"Deployment ns/a"}
    assert book.waiting(110.0, generation=1) == set()
    book.record("Deployment ns/a", error, now=110.0, generation=1)
    assert book.next_retry_in(110.0) == 20.0
    assert book.by_ref["Deployment ns/a"].reason == "Invalid"
    assert book.waiting(111.0, generation=2) == set() and book.by_ref == {}
