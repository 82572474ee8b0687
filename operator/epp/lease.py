"""High availability for the picker, as GIE's picker does it: several replicas, one active.

The replicas compete for a `coordination.k8s.io/v1` Lease; the holder renews it every few seconds
and reports ready, the others report not ready (so the picker Service sends Envoy only to the
holder) and take over once the holder stops renewing. A holder that shuts down releases the Lease,
so a rolling update hands over at once instead of after the Lease expires.

`decide` is the pure rule; `LeaseElector` does the API calls with the picker's in-cluster credentials.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

import aiohttp
import orjson

from heteropool.epp.discovery import InClusterCredentials

__all__ = ["Action", "decide", "LeaseElector"]

log = logging.getLogger(__name__)

Action = Literal["create", "renew", "take-over", "follow"]


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _format_time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decide(lease: Mapping[str, Any] | None, identity: str, now: float) -> Action:
    """What a candidate does with the Lease as it stands: create it, renew its own, take over an
    expired or released one, or follow a live holder."""
    if lease is None:
        return "create"
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    if holder == identity:
        return "renew"
    renewed = _parse_time(spec.get("renewTime")) or 0.0
    duration = float(spec.get("leaseDurationSeconds") or 0)
    if not holder or renewed + duration < now:
        return "take-over"
    return "follow"


class LeaseElector:
    """Keeps trying to hold the Lease `namespace/name`; `is_leader` says whether this replica does."""

    def __init__(
        self,
        creds: InClusterCredentials,
        namespace: str,
        name: str,
        identity: str,
        *,
        duration_s: float = 15.0,
        renew_s: float = 5.0,
        clock: Callable[[], float] = lambda: dt.datetime.now(dt.UTC).timestamp(),
    ) -> None:
        self.creds, self.namespace, self.name, self.identity = creds, namespace, name, identity
        self.duration_s, self.renew_s, self._clock = duration_s, renew_s, clock
        self.is_leader = False
        self._url = f"{creds.api_url}/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.creds.token()}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def _ssl(self) -> Any:
        return self.creds.ssl_context() if self.creds.api_url.startswith("https") else False

    async def step(self, session: aiohttp.ClientSession) -> bool:
        """One round: read the Lease, act on it; returns whether this replica holds it now."""
        async with session.get(f"{self._url}/{self.name}", headers=self._headers(), ssl=self._ssl()) as r:
            lease: dict[str, Any] | None = None
            if r.status != 404:
                r.raise_for_status()
                lease = orjson.loads(await r.read())
        now = self._clock()
        action = decide(lease, self.identity, now)
        if action == "follow":
            return self._become(False, lease)
        spec = dict((lease or {}).get("spec") or {})
        if action != "renew":
            spec["acquireTime"] = _format_time(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (0 if action == "create" else 1)
        spec.update(
            holderIdentity=self.identity, renewTime=_format_time(now), leaseDurationSeconds=int(self.duration_s)
        )
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "spec": spec,
            "metadata": {"name": self.name, "namespace": self.namespace},
        }
        if lease is None:
            method, url = "POST", self._url
        else:
            body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]  # lose a race, never double-lead
            method, url = "PUT", f"{self._url}/{self.name}"
        async with session.request(method, url, data=orjson.dumps(body), headers=self._headers(), ssl=self._ssl()) as r:
            if r.status == 409:
                return self._become(False, lease)
            r.raise_for_status()
        return self._become(True, lease)

    def _become(self, leader: bool, lease: Mapping[str, Any] | None) -> bool:
        if leader != self.is_leader:
            holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
            log.info("picker lease %s: %s", self.name, "acquired" if leader else f"held by {holder}; standing by")
        self.is_leader = leader
        return leader

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Compete until cancelled; on cancellation a holder releases the Lease for a quick hand-over."""
        try:
            while True:
                try:
                    await self.step(session)
                except (TimeoutError, aiohttp.ClientError, OSError, KeyError) as exc:
                    log.warning("picker lease %s: %r; retrying", self.name, exc)
                    self._become(False, None)  # cannot prove the lease: stop serving rather than double-lead
                await asyncio.sleep(self.renew_s)
        finally:
            if self.is_leader:
                await asyncio.shield(self._release(session))

    async def _release(self, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(f"{self._url}/{self.name}", headers=self._headers(), ssl=self._ssl()) as r:
                lease = orjson.loads(await r.read()) if r.status == 200 else None
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                async with session.put(
                    f"{self._url}/{self.name}", data=orjson.dumps(lease), headers=self._headers(), ssl=self._ssl()
                ):
                    pass
        except (TimeoutError, aiohttp.ClientError, OSError):
            pass
        self.is_leader = False
