"""Times as Kubernetes writes them: RFC 3339 in UTC to the second (`2026-11-27T12:00:00Z`), for
conditions, Events, status and the routing document. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

__all__ = ["rfc3339"]


@overload
def rfc3339(moment: float | datetime) -> str: ...
@overload
def rfc3339(moment: None) -> None: ...
def rfc3339(moment: float | datetime | None) -> str | None:
    """Epoch seconds or an aware datetime as RFC 3339 UTC; None stays None (never measured)."""
    if moment is None:
        return None
    when = datetime.fromtimestamp(moment, tz=UTC) if isinstance(moment, (int, float)) else moment.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
