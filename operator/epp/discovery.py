"""Kubernetes discovery: the pool's EndpointSlices and routing ConfigMap, watched over the REST API.

Pure parts (`slice_endpoints`, `routing_config_from_configmap`, `merge_entries`) turn API objects
into the gateway's `EndpointEntry` list; `KubeEndpointSource` lists and watches them with aiohttp
and in-cluster credentials (service-account token + CA), re-listing on 410 Gone.
EndpointSlices are selected by `heteropool.dev/pool=<pool>` and must carry
`kubernetes.io/service-name`; an endpoint's group is the routing document's group whose `service`
names the slice's Service, else the slice's `heteropool.dev/vendor` label.
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
import yaml
from pydantic import ValidationError

from heteropool.routing import ROUTING_CONFIG_KEY, EndpointEntry, RoutingConfig, RoutingConfigError

__all__ = [
    "POOL_LABEL",
    "VENDOR_LABEL",
    "SERVICE_LABEL",
    "slice_endpoints",
    "routing_config_from_configmap",
    "merge_entries",
    "KubeEndpointSource",
    "InClusterCredentials",
]

log = logging.getLogger(__name__)

POOL_LABEL = "heteropool.dev/pool"
VENDOR_LABEL = "heteropool.dev/vendor"
SERVICE_LABEL = "kubernetes.io/service-name"
_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def slice_endpoints(obj: Mapping[str, Any], port_name: str | None = "http") -> list[tuple[str, bool]]:
    """(url, ready) of every address in an EndpointSlice.

    Readiness follows the API: `ready` unset means ready; a terminating endpoint is not ready.
    The port is the one named `port_name`, else the first one.
    """
    ports = obj.get("ports") or []
    port = next((p for p in ports if port_name and p.get("name") == port_name), ports[0] if ports else None)
    if not port or port.get("port") is None:
        return []
    number = int(port["port"])
    out: list[tuple[str, bool]] = []
    for ep in obj.get("endpoints") or []:
        cond = ep.get("conditions") or {}
        ready = cond.get("ready") is not False and not cond.get("terminating", False)
        for addr in ep.get("addresses") or []:
            host = f"[{addr}]" if ":" in addr else addr
            out.append((f"http://{host}:{number}", ready))
    return out


def routing_config_from_configmap(obj: Mapping[str, Any]) -> RoutingConfig:
    """The `RoutingConfig` stored under `routing.yaml` of a ConfigMap.

    Raises:
        RoutingConfigError: naming the ConfigMap, the key and the field.
    """
    name = (obj.get("metadata") or {}).get("name", "?")
    where = f"configmap {name} data.{ROUTING_CONFIG_KEY}"
    text = (obj.get("data") or {}).get(ROUTING_CONFIG_KEY)
    if text is None:
        raise RoutingConfigError(f"{where}: missing")
    try:
        return RoutingConfig.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{where}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise RoutingConfigError(f"{where}.{field}: {first['msg']}") from None


def merge_entries(slices: Sequence[Mapping[str, Any]], config: RoutingConfig | None) -> list[EndpointEntry]:
    """Ready endpoints of all slices, with group, capacity, prefill speed, block size and weight from the config.

    An endpoint's group is the config group whose `service` names the slice's Service, else the
    slice's `heteropool.dev/vendor` label. Per-endpoint overrides (published by the weight loop)
    win; otherwise the group's traffic *share* is turned into the per-endpoint weight the
    gateway applies to capacity (`share / replicas` relative to the endpoint's capacity share),
    so a group's endpoints together get its share.
    """
    groups = config.vendors if config else {}
    by_service = {v.service: name for name, v in groups.items() if v.service}
    overrides = {e.url.rstrip("/"): e for e in (config.endpoints if config else ())}
    ready: dict[str, str] = {}  # url -> group
    for obj in slices:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        group = by_service.get(labels.get(SERVICE_LABEL, "")) or labels.get(VENDOR_LABEL)
        if not group:
            continue
        for url, ok in slice_endpoints(obj):
            if ok:
                ready[url] = group
    members: dict[str, int] = {}
    for group in ready.values():
        members[group] = members.get(group, 0) + 1
    known = [v.capacity_tokens_per_s for v in groups.values() if v.capacity_tokens_per_s]
    default_cap = sum(known) / len(known) if known else 1.0

    def capacity(url: str, group: str) -> float | None:
        o = overrides.get(url)
        vr = groups.get(group)
        return (o.capacity if o and o.capacity else None) or (vr.capacity_tokens_per_s if vr else None)

    total_cap = sum(capacity(u, g) or default_cap for u, g in ready.items())
    out: list[EndpointEntry] = []
    for url, group in ready.items():
        o = overrides.get(url)
        vr = groups.get(group)
        cap = capacity(url, group)
        weight: float | None = None
        if o is not None and o.weight is not None:
            weight = o.weight
        elif vr is not None and total_cap > 0:
            weight = (vr.weight / members[group]) / ((cap or default_cap) / total_cap)
        out.append(
            EndpointEntry(
                url=url,
                vendor=group,
                capacity=cap,
                block_size=(o.block_size if o and o.block_size else None) or (vr.block_size if vr else None),
                weight=weight,
                prefill_tokens_per_s=(o.prefill_tokens_per_s if o else None)
                or (vr.prefill_tokens_per_s if vr else None),
            )
        )
    return out


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
        params = {"labelSelector": f"{POOL_LABEL}={self.pool},{SERVICE_LABEL}"}

        def reset(items: list[Mapping[str, Any]]) -> None:
            self.slices = {i["metadata"]["name"]: i for i in items}
            changed.set()

        def event(kind: str, obj: Mapping[str, Any]) -> None:
            name = obj["metadata"]["name"]
            if kind == "DELETED":
                self.slices.pop(name, None)
            else:
                self.slices[name] = obj
            changed.set()

        await self._list_watch(session, path, params, reset, event)

    async def _watch_configmap(self, session: aiohttp.ClientSession, changed: asyncio.Event) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        params = {"fieldSelector": f"metadata.name={self.configmap}"}

        def apply(obj: Mapping[str, Any] | None) -> None:
            if obj is None:
                return  # deleted: keep the last good routing config
            try:
                config = routing_config_from_configmap(obj)
            except RoutingConfigError as exc:
                log.error("routing config not applied, keeping the previous one: %s", exc)
                return
            self.config = config
            if self.on_config is not None:
                self.on_config(config)
            changed.set()

        await self._list_watch(
            session, path, params, lambda items: apply(items[0] if items else None),
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
            except _Gone:
                continue  # resourceVersion too old: re-list at once
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, KeyError, orjson.JSONDecodeError) as exc:
                log.warning("kubernetes watch %s failed, retrying in %.1f s: %r", path, self.retry_s, exc)
            await asyncio.sleep(self.retry_s)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.creds.token()}", "Accept": "application/json"}

    async def _list(
        self, session: aiohttp.ClientSession, path: str, params: dict[str, str]
    ) -> tuple[list[Mapping[str, Any]], str]:
        async with session.get(self.creds.api_url + path, params=params, headers=self._headers(),
                               ssl=self._ssl()) as r:
            r.raise_for_status()
            doc = orjson.loads(await r.read())
        return list(doc.get("items") or []), str(doc["metadata"].get("resourceVersion", ""))

    async def _watch(
        self, session: aiohttp.ClientSession, path: str, params: dict[str, str], version: str
    ) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        q = {**params, "watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": "300",
             "resourceVersion": version}
        async with session.get(self.creds.api_url + path, params=q, headers=self._headers(), ssl=self._ssl()) as r:
            if r.status == 410:
                raise _Gone
            r.raise_for_status()
            async for line in r.content:
                if not line.strip():
                    continue
                ev = orjson.loads(line)
                kind = ev.get("type", "")
                obj = ev.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone
                    raise aiohttp.ClientError(f"watch error: {obj.get('message')}")
                yield kind, obj

    def _ssl(self) -> ssl.SSLContext | bool:
        return self.creds.ssl_context() if self.creds.api_url.startswith("https") else False


class _Gone(Exception):
    """The watch's resourceVersion expired (HTTP 410): re-list."""
