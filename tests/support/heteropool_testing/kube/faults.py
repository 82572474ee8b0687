"""Fault injection and the write log: what tests use to break the API and to count writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from .errors import ApiError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
    410: "Expired",
    403: "Forbidden",
}


@attrs.define
class Fault:
    """One rule: matching requests fail with `status` for the next `times` matches (None: forever).

    `hits` counts the requests it failed, for assertions.
    """

    method: str | None
    path_contains: str | None
    status: int
    times: int | None
    retry_after: int | None = None
    message: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path

    def error(self) -> ApiError:
        reason = _REASONS.get(self.status, "InternalError")
        message = self.message or f"injected fault: {self.status} {reason}"
        return ApiError(status=self.status, reason=reason, message=message, retry_after=self.retry_after)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@attrs.define
class WriteRecord:
    """One mutating request as it arrived: method, path (no query), query, content type, body."""

    method: str
    path: str
    params: dict[str, str]
    content_type: str
    body: Any
    status: int | None = None  # filled in when the response is known
    injected: bool = False  # failed by an injected fault, never reached the store


@attrs.define
class WriteLog:
    records: list[WriteRecord] = attrs.field(factory=list)

    def __iter__(self) -> Iterator[WriteRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def mark(self) -> int:
        """A position to pass as `since=` later: "writes after this point"."""
        return len(self.records)

    def select(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        since: int = 0,
        succeeded: bool | None = None,
    ) -> list[WriteRecord]:
        out = []
        for record in self.records[since:]:
            if method is not None and record.method != method.upper():
                continue
            if path_contains is not None and path_contains not in record.path:
                continue
            ok = record.status is not None and record.status < 400
            if succeeded is not None and ok != succeeded:
                continue
            out.append(record)
        return out

    def clear(self) -> None:
        self.records.clear()
