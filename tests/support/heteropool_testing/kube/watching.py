"""Watch streams: resume from a resourceVersion, initial events, selectors, timeouts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp.web
from kmock._internal import rendering

from . import errors
from .store import Event, Kind, Store
from .wire import Target


class WatchMixin:
    """`?watch=true` for ApiServerEmulator; events come from `_publish()` via `_watchers`."""

    _store: Store
    _events: list[Event]
    _compacted_rv: int
    _watchers: set[asyncio.Queue[Event | None]]
    _kind: Callable[[str, str, str], Kind]
    _selector: Callable[..., Callable[[Any], bool]]

    # -- watch -------------------------------------------------------------------------------
    async def _watch(self, request: rendering.Request, t: Target) -> aiohttp.web.StreamResponse:
        assert t.plural is not None and request._raw_request is not None
        kind = self._kind(t.group, t.version, t.plural)
        match = self._selector(request, t.name)
        params = request.params
        since = params.get("resourceVersion") or ""
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        backlog: list[dict[str, Any]] = []
        initial = since in {"", "0"} or params.get("sendInitialEvents") == "true"
        if not initial and since.isdigit() and int(since) < self._compacted_rv:
            backlog.append(
                {
                    "type": "ERROR",
                    "object": errors.ApiError(
                        status=410,
                        reason="Expired",
                        message=f"too old resource version: {since} ({self._compacted_rv})",
                    ).status_body(),
                }
            )
        elif initial:
            backlog += [
                {"type": "ADDED", "object": self._store.shaped(o, kind)}
                for o in self._store.scan(kind.group, kind.plural, t.namespace)
                if match(o)
            ]
            if params.get("sendInitialEvents") == "true":
                backlog.append(
                    {
                        "type": "BOOKMARK",
                        "object": {
                            "apiVersion": kind.api_version,
                            "kind": kind.kind,
                            "metadata": {
                                "resourceVersion": str(self._store.rv),
                                "annotations": {"k8s.io/initial-events-end": "true"},
                            },
                        },
                    }
                )
        else:
            start = int(since) if since.isdigit() else 0
            for event in self._events:
                if event.rv > start:
                    queue.put_nowait(event)
        response = aiohttp.web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        )
        self._watchers.add(queue)
        try:
            await response.prepare(request._raw_request)
            for item in backlog:
                await response.write(json.dumps(item).encode() + b"\n")
            if backlog and backlog[0]["type"] == "ERROR":
                return response
            async with asyncio.timeout(timeout):
                while True:
                    change = await queue.get()
                    if change is None:
                        break
                    out = self._watch_event(change, kind, t.namespace, match)
                    if out is not None:
                        await response.write(json.dumps(out).encode() + b"\n")
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self._watchers.discard(queue)
        try:
            await response.write_eof()
        except ConnectionError:
            pass
        return response

    def _watch_event(
        self, event: Event, kind: Kind, namespace: str | None, match: Callable[[Any], bool]
    ) -> dict[str, Any] | None:
        if (event.group, event.plural) != (kind.group, kind.plural):
            return None
        if namespace is not None and event.obj["metadata"].get("namespace") != namespace:
            return None
        now, before = match(event.obj), event.old is not None and match(event.old)
        kind_of_event = event.type
        if event.type == "MODIFIED":  # entering/leaving a selector looks like ADDED/DELETED
            kind_of_event = "MODIFIED" if now and before else "ADDED" if now else "DELETED" if before else ""
        elif not now:
            kind_of_event = ""
        if not kind_of_event:
            return None
        return {"type": kind_of_event, "object": self._store.shaped(event.obj, kind)}
