"""Endpoint sources: where the endpoint set comes from (a static file here; Kubernetes in kube.py)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from heteropool.routing import EndpointEntry, RoutingConfigError, load_endpoint_entries

__all__ = ["EndpointSource", "FileEndpointSource", "OnEndpoints"]

log = logging.getLogger(__name__)

OnEndpoints = Callable[[Sequence[EndpointEntry]], Awaitable[None] | None]


class EndpointSource(Protocol):
    """Produces the current endpoint list, then every change, until cancelled."""

    async def run(self, on_change: OnEndpoints) -> None: ...


class FileEndpointSource:
    """A YAML/JSON endpoint file, re-read when its mtime, size or inode changes.

    A file that fails to parse is logged and ignored: the last good endpoint set stays.
    """

    def __init__(self, path: str | os.PathLike[str], interval_s: float = 0.5) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._stamp: tuple[int, int, int] | None = None

    def load(self) -> list[EndpointEntry]:
        """Read and parse the file now (raises RoutingConfigError / OSError)."""
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        return load_endpoint_entries(self.path.read_text(), source=str(self.path))

    def changed(self) -> bool:
        try:
            st = self.path.stat()
        except OSError:
            return False
        return (st.st_mtime_ns, st.st_size, st.st_ino) != self._stamp

    async def run(self, on_change: OnEndpoints) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if not self.changed():
                continue
            try:
                entries = self.load()
            except (OSError, RoutingConfigError) as exc:
                log.error("endpoint file not applied, keeping the previous endpoints: %s", exc)
                continue
            log.info("endpoint file changed: %d endpoints", len(entries))
            result = on_change(entries)
            if result is not None:
                await result
