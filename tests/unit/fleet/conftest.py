"""Fake routers and small fleets for fleet-simulation tests (the real policies live in gateway/)."""

from __future__ import annotations

from collections.abc import Sequence

from heteropool.routing import EndpointView, NoEndpointError, RouteRequest


class FakeRoundRobin:
    """Cycles through endpoints; records what it was shown and told."""

    name = "fake-round-robin"

    def __init__(self) -> None:
        self.i = 0
        self.seen: list[tuple[EndpointView, ...]] = []
        self.requests: list[RouteRequest] = []
        self.routed: list[tuple[str, str]] = []
        self.finished: list[tuple[str, str, bool]] = []

    def pick(self, request: RouteRequest, endpoints: Sequence[EndpointView]) -> str:
        self.seen.append(tuple(endpoints))
        self.requests.append(request)
        self.i += 1
        return endpoints[self.i % len(endpoints)].id

    def prefix_share(self, request: RouteRequest, endpoint_id: str) -> float | None:
        return None

    def on_routed(self, request: RouteRequest, endpoint_id: str) -> None:
        self.routed.append((request.request_id, endpoint_id))

    def on_finished(self, request: RouteRequest, endpoint_id: str, *, ok: bool) -> None:
        self.finished.append((request.request_id, endpoint_id, ok))

    def on_endpoints_removed(self, endpoint_ids: Sequence[str]) -> None:
        pass


class FakePrefixAffinity(FakeRoundRobin):
    """Sends equal prompt beginnings to the same endpoint (a crude prefix-aware policy)."""

    name = "fake-prefix"

    def pick(self, request: RouteRequest, endpoints: Sequence[EndpointView]) -> str:
        return endpoints[hash(request.prompt[:200]) % len(endpoints)].id


class RefuseAll(FakeRoundRobin):
    name = "refuse-all"

    def pick(self, request: RouteRequest, endpoints: Sequence[EndpointView]) -> str:
        raise NoEndpointError("all saturated", saturated=True)
