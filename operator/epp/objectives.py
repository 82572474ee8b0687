"""Gateway mode: request priorities from the namespace's GIE InferenceObjectives.

An InferenceObjective (`inference.networking.x-k8s.io/v1alpha2`, the only version published)
names an objective for the requests of one InferencePool and gives it a `priority` (unset = 0,
higher is more important); requests name theirs in the `x-gateway-inference-objective` header.
The picker follows them with a list + watch; they win over the pool spec's objectives. A cluster
without the InferenceObjective API is normal: the picker says so once, keeps the spec's
objectives and looks again now and then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp
import orjson

from heteropool.epp.discovery import (
    InClusterCredentials,
    WatchGone,
    apply_watch_event,
    by_name,
    list_objects,
    watch_objects,
)

__all__ = ["OBJECTIVE_API", "ObjectiveWatch", "objective_priorities"]

log = logging.getLogger(__name__)

OBJECTIVE_API = "inference.networking.x-k8s.io/v1alpha2"
_POOL_GROUPS = (None, "", "inference.networking.k8s.io", "inference.networking.x-k8s.io")


def objective_priorities(objects: Iterable[Mapping[str, Any]], pool: str) -> dict[str, int]:
    """name -> priority of the InferenceObjectives that refer to InferencePool `pool`."""
    out: dict[str, int] = {}
    for obj in objects:
        spec = obj.get("spec") or {}
        ref = spec.get("poolRef") or {}
        if (
            ref.get("name") != pool
            or ref.get("group") not in _POOL_GROUPS
            or ref.get("kind", "InferencePool") != "InferencePool"
        ):
            continue
        priority = spec.get("priority")
        name = (obj.get("metadata") or {}).get("name")
        if name and (priority is None or (isinstance(priority, int) and not isinstance(priority, bool))):
            out[name] = priority or 0
    return out


class ObjectiveWatch:
    """Lists and watches InferenceObjectives; calls `apply` with name -> priority on every change
    (None while the API is not installed)."""

    def __init__(
        self,
        creds: InClusterCredentials,
        namespace: str,
        pool: str,
        apply: Callable[[Mapping[str, int] | None], None],
        *,
        retry_s: float = 1.0,
        missing_retry_s: float = 60.0,
    ) -> None:
        self.creds = creds
        self.path = f"/apis/{OBJECTIVE_API}/namespaces/{namespace}/inferenceobjectives"
        self.pool = pool
        self.apply = apply
        self.retry_s = retry_s
        self.missing_retry_s = missing_retry_s
        self.objects: dict[str, Mapping[str, Any]] = {}

    def _publish(self) -> None:
        self.apply(objective_priorities(self.objects.values(), self.pool))

    async def run(self, session: aiohttp.ClientSession) -> None:
        missing_said = False
        while True:
            try:
                items, version = await list_objects(session, self.creds, self.path, {})
                missing_said = False
                self.objects = by_name(items)
                self._publish()
                async for kind, obj in watch_objects(session, self.creds, self.path, {}, version):
                    if kind == "BOOKMARK":
                        continue
                    apply_watch_event(self.objects, kind, obj)
                    self._publish()
            except WatchGone:
                continue
            except aiohttp.ClientResponseError as exc:
                if exc.status in (403, 404):  # the API is not installed (yet), or the picker may not read it
                    if not missing_said:
                        log.log(
                            logging.INFO if exc.status == 404 else logging.WARNING,
                            "%s InferenceObjectives (%s): the pool spec's objectives apply",
                            "no API for" if exc.status == 404 else "not allowed to list",
                            OBJECTIVE_API,
                        )
                        missing_said = True
                    self.objects = {}
                    self.apply(None)
                    await asyncio.sleep(self.missing_retry_s)
                    continue
                log.warning("InferenceObjective watch failed, retrying in %.1f s: %r", self.retry_s, exc)
            except (TimeoutError, aiohttp.ClientError, OSError, KeyError, orjson.JSONDecodeError) as exc:
                log.warning("InferenceObjective watch failed, retrying in %.1f s: %r", self.retry_s, exc)
            await asyncio.sleep(self.retry_s)
