"""What to do about a failed API call: retry soon with backoff, or report it and retry slowly.

`KubeApiError.retryable` decides: conflicts, throttling, server errors, timeouts and lost
connections are transient, retried with exponential backoff (0.5 s doubling, capped at 30 s, or
the server's Retry-After). An expired token (401) is refreshed by the client, which retries once;
if that fails too it counts as transient. Everything else (400, 403, 422, ...) will not pass by
retrying the same request: the pool is Degraded with the server's reason and message, naming the
object, and the write is retried slowly (10 s doubling, capped at 5 min) until the spec changes
or the cluster does (RBAC fixed, an admission policy relaxed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heteropool.handlers.kube import KubeApiError

__all__ = [
    "retry_delay_s",
    "Rejection",
    "Rejections",
    "RETRY_BASE_S",
    "RETRY_CAP_S",
    "REJECTED_BASE_S",
    "REJECTED_CAP_S",
]

RETRY_BASE_S, RETRY_CAP_S = 0.5, 30.0
REJECTED_BASE_S, REJECTED_CAP_S = 10.0, 300.0


def _backoff_s(attempt: int, base_s: float, cap_s: float) -> float:
    return min(cap_s, base_s * 2.0 ** max(0, attempt - 1))


def retry_delay_s(exc: KubeApiError, attempt: int) -> float:
    """Delay before retry number `attempt` (1-based) after a transient error."""
    if exc.retry_after_s is not None:
        return min(RETRY_CAP_S, exc.retry_after_s)
    return _backoff_s(attempt, RETRY_BASE_S, RETRY_CAP_S)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A child write the API server refused; not retried before `retry_at` (monotonic seconds)."""

    ref: str
    reason: str
    message: str
    attempts: int
    retry_at: float
    generation: int

    def __str__(self) -> str:
        return f"{self.ref}: {self.message}"


@dataclass
class Rejections:
    """Refused child writes of one pool, so a resync does not hammer the API server with them."""

    by_ref: dict[str, Rejection] = field(default_factory=dict)

    def waiting(self, now: float, generation: int) -> set[str]:
        """Objects whose retry is not due. A new generation of the pool retries everything at once."""
        self.by_ref = {r: v for r, v in self.by_ref.items() if v.generation == generation}
        return {r for r, v in self.by_ref.items() if v.retry_at > now}

    def record(self, ref: str, exc: KubeApiError, now: float, generation: int) -> None:
        attempts = self.by_ref[ref].attempts + 1 if ref in self.by_ref else 1
        delay = _backoff_s(attempts, REJECTED_BASE_S, REJECTED_CAP_S)
        reason = "".join(ch for ch in exc.reason if ch.isalnum()) or "Rejected"
        self.by_ref[ref] = Rejection(ref, reason, exc.message, attempts, now + delay, generation)

    def clear(self, refs: list[str]) -> None:
        for ref in refs:
            self.by_ref.pop(ref, None)

    def next_retry_in(self, now: float) -> float | None:
        return min((v.retry_at - now for v in self.by_ref.values()), default=None)
