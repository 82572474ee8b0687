"""Kubernetes discovery: the pool's EndpointSlices and routing ConfigMap, watched over the REST API.

Pure parts (`ready_endpoints`, `merge_entries`, over `heteropool.endpointslices`) turn API objects into the
picker's `EndpointEntry` list (the document's arithmetic is `heteropool.routing_document`'s);
`KubeEndpointSource` lists and watches them with aiohttp and in-cluster credentials
(service-account token + CA), re-listing on 410 Gone.
EndpointSlices are selected by `heteropool.dev/pool=<pool>` and must carry
`kubernetes.io/service-name`; an endpoint's group is the routing document's group whose `service`
names the slice's Service, else the slice's `heteropool.dev/group` label (a vendor group's
Service carries it, and Kubernetes copies a Service's labels to its EndpointSlices).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from heteropool import routing_document
from heteropool.endpointslices import slice_endpoints, slice_service
from heteropool.names import GROUP_LABEL, POOL_LABEL, SERVICE_NAME_LABEL
from heteropool.routing import EndpointEntry, RoutingConfig, RoutingConfigError

__all__ = [
    "ready_endpoints",
    "merge_entries",
    "KubeEndpointSource",
    "InClusterCredentials",
    "list_objects",
    "watch_objects",
    "by_name",
    "apply_watch_event",
    "WatchGone",
]

log = logging.getLogger(__name__)

_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def ready_endpoints(slices: Sequence[Mapping[str, Any]], config: RoutingConfig | None) -> dict[str, str]:
    """`url -> group` of the ready endpoints of all slices.

    An endpoint's group is the document's group whose `service` names the slice's Service, else the
    slice's `heteropool.dev/group` label; a slice of neither is left out.
    """
    by_service = {v.service: name for name, v in (config.groups if config else {}).items() if v.service}
    ready: dict[str, str] = {}
    for obj in slices:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        group = by_service.get(slice_service(obj)) or labels.get(GROUP_LABEL)
        if not group:
            continue
        for url, ok in slice_endpoints(obj):
            if ok:
                ready[url] = group
    return ready


def merge_entries(slices: Sequence[Mapping[str, Any]], config: RoutingConfig | None) -> list[EndpointEntry]:
    """The entries the picker routes by: the slices' ready endpoints with the document's facts."""
    return routing_document.endpoint_entries(ready_endpoints(slices, config), config)


class InClusterCredentials:
    """API URL, bearer token and CA of the pod's service account (token re-read on every connect)."""

    def __init__(self, api_url: str, sa_dir: Path = _SA_DIR) -> None:
        self.api_url = api_url.rstrip("/")
        self.sa_dir = sa_dir

    def token(self) -> str:
        return (self.sa_dir / "token").read_text().strip()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.sa_dir / "ca.crt"))


class KubeEndpointSource:
    """Watches the pool's EndpointSlices and routing ConfigMap; reports merged endpoints on change."""

    def __init__(
        self,
        creds: InClusterCredentials,
        namespace: str,
        pool: str,
        configmap: str | None,
        *,
        on_config: Callable[[RoutingConfig], None] | None = None,
        session: aiohttp.ClientSession | None = None,
        retry_s: float = 1.0,
    ) -> None:
        self.creds = creds
        self.namespace = namespace
        self.pool = pool
        self.configmap = configmap
        self.on_config = on_config
        self.retry_s = retry_s
        self._session = session
        self.slices: dict[str, Mapping[str, Any]] = {}
        self.config: RoutingConfig | None = None

    def entries(self) -> list[EndpointEntry]:
        return merge_entries(list(self.slices.values()), self.config)

    async def run(self, on_change: Callable[[Sequence[EndpointEntry]], Any]) -> None:
        own = self._session is None
        session = self._session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=330))
        changed = asyncio.Event()
        try:
            tasks = [asyncio.create_task(self._watch_slices(session, changed))]
            if self.configmap:
                tasks.append(asyncio.create_task(self._watch_configmap(session, changed)))
            try:
                while True:
                    await changed.wait()
                    changed.clear()
                    result = on_change(self.entries())
                    if asyncio.iscoroutine(result):
                        await result
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            if own:
                await session.close()

    # --- watches ---------------------------------------------------------------------------------
    async def _watch_slices(self, session: aiohttp.ClientSession, changed: asyncio.Event) -> None:
        path = f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"
        params = {"labelSelector": f"{POOL_LABEL}={self.pool},{SERVICE_NAME_LABEL}"}

        def reset(items: list[Mapping[str, Any]]) -> None:
            self.slices = by_name(items)
            changed.set()

        def event(kind: str, obj: Mapping[str, Any]) -> None:
            apply_watch_event(self.slices, kind, obj)
            changed.set()

        await self._list_watch(session, path, params, reset, event)

    async def _watch_configmap(self, session: aiohttp.ClientSession, changed: asyncio.Event) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        params = {"fieldSelector": f"metadata.name={self.configmap}"}

        def apply(obj: Mapping[str, Any] | None) -> None:
            if obj is None:
                return  # deleted: keep the last good routing config
            try:
                config = routing_document.from_configmap(obj)
            except RoutingConfigError as exc:
                log.error("routing config not applied, keeping the previous one: %s", exc)
                return
            self.config = config
            if self.on_config is not None:
                self.on_config(config)
            changed.set()

        await self._list_watch(
            session,
            path,
            params,
            lambda items: apply(items[0] if items else None),
            lambda kind, obj: apply(None if kind == "DELETED" else obj),
        )

    async def _list_watch(
        self,
        session: aiohttp.ClientSession,
        path: str,
        params: dict[str, str],
        reset: Callable[[list[Mapping[str, Any]]], None],
        event: Callable[[str, Mapping[str, Any]], None],
    ) -> None:
        while True:
            try:
                items, version = await self._list(session, path, params)
                reset(items)
                async for kind, obj in self._watch(session, path, params, version):
                    if kind == "BOOKMARK":
                        continue
                    event(kind, obj)
            except WatchGone:
                continue  # resourceVersion too old: re-list at once
            except (TimeoutError, aiohttp.ClientError, OSError, KeyError, orjson.JSONDecodeError) as exc:
                log.warning("kubernetes watch %s failed, retrying in %.1f s: %r", path, self.retry_s, exc)
            await asyncio.sleep(self.retry_s)

    async def _list(
        self, session: aiohttp.ClientSession, path: str, params: dict[str, str]
    ) -> tuple[list[Mapping[str, Any]], str]:
        return await list_objects(session, self.creds, path, params)

    def _watch(
        self, session: aiohttp.ClientSession, path: str, params: dict[str, str], version: str
    ) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        return watch_objects(session, self.creds, path, params, version)


def _headers(creds: InClusterCredentials) -> dict[str, str]:
    return {"Authorization": f"Bearer {creds.token()}", "Accept": "application/json"}


def _ssl(creds: InClusterCredentials) -> ssl.SSLContext | bool:
    return creds.ssl_context() if creds.api_url.startswith("https") else False


async def list_objects(
    session: aiohttp.ClientSession, creds: InClusterCredentials, path: str, params: dict[str, str]
) -> tuple[list[Mapping[str, Any]], str]:
    """List a collection: its items and resourceVersion (raises aiohttp.ClientResponseError on 4xx/5xx)."""
    async with session.get(creds.api_url + path, params=params, headers=_headers(creds), ssl=_ssl(creds)) as r:
        r.raise_for_status()
        doc = orjson.loads(await r.read())
    return list(doc.get("items") or []), str(doc["metadata"].get("resourceVersion", ""))


async def watch_objects(
    session: aiohttp.ClientSession, creds: InClusterCredentials, path: str, params: dict[str, str], version: str
) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
    """Follow a collection from `version`: (event type, object); raises WatchGone on 410."""
    q = {**params, "watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": "300", "resourceVersion": version}
    async with session.get(creds.api_url + path, params=q, headers=_headers(creds), ssl=_ssl(creds)) as r:
        if r.status == 410:
            raise WatchGone
        r.raise_for_status()
        async for line in r.content:
            if not line.strip():
                continue
            ev = orjson.loads(line)
            kind = ev.get("type", "")
            obj = ev.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise WatchGone
                raise aiohttp.ClientError(f"watch error: {obj.get('message')}")
            yield kind, obj


def by_name(items: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """A listed collection as name -> object (what `apply_watch_event` keeps up to date)."""
    return {i["metadata"]["name"]: i for i in items}


def apply_watch_event(objects: dict[str, Mapping[str, Any]], kind: str, obj: Mapping[str, Any]) -> None:
    """Bring a name -> object copy of a collection up to date with one watch event."""
    name = obj["metadata"]["name"]
    if kind == "DELETED":
        objects.pop(name, None)
    else:
        objects[name] = obj


class WatchGone(Exception):
    """The watch's resourceVersion expired (HTTP 410): re-list."""
