"""Kubernetes Events about pools, reported by `heteropool` (what `kubectl describe hip` shows).

One Event per meaningful action (children created, updated or deleted, a refused write, a
missing Secret, a weight change), never one per pass: the same reason and message for the same
pool is not repeated within REPEAT_S. Events are best effort: a failure to post one is logged at
DEBUG and never fails a reconcile.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from heteropool.handlers.kube import KubeApiError, KubeClient
from heteropool.timestamps import rfc3339

__all__ = ["COMPONENT", "EventRecorder"]

COMPONENT = "heteropool"
REPEAT_S = 300.0

logger = logging.getLogger(__name__)


class EventRecorder:
    def __init__(self, kube: KubeClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._clock = clock
        self._instance = socket.gethostname()
        self._last: dict[tuple[str, str, str], float] = {}

    async def record(
        self, body: Mapping[str, Any], type_: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        """Post an Event about `body` (a pool) unless the same one was posted lately."""
        meta = body["metadata"]
        key = (str(meta.get("uid")), reason, message)
        now = self._clock()
        if now - self._last.get(key, -REPEAT_S) < REPEAT_S:
            return
        self._last = {k: t for k, t in self._last.items() if now - t < REPEAT_S}
        self._last[key] = now
        logger.log(
            logging.WARNING if type_ == "Warning" else logging.INFO,
            "%s/%s: %s: %s",
            meta["namespace"],
            meta["name"],
            reason,
            message,
        )
        stamp = rfc3339(datetime.now(UTC))
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": body.get("apiVersion"),
                "kind": body.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self._kube.create(event)
        except KubeApiError as exc:
            logger.debug("could not post event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], exc)
