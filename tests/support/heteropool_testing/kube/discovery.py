"""Discovery (`/api`, `/apis`, `/apis/g`, `/apis/g/v`, `/version`) for ApiServerEmulator.

Fixes two kmock gaps: the core group version is `v1` (not `/v1`), and shortNames are not copied to
subresources (kubectl warned about ambiguous short names).
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import kmock
from kmock._internal import rendering

from . import errors


class DiscoveryMixin:
    """Overrides kmock's discovery handlers; reads `self.resources` (kmock.ResourcesArray)."""

    resources: kmock.ResourcesArray

    if TYPE_CHECKING:  # kmock.KubernetesEmulator's handlers (the emulator inherits them after this mixin)

        async def _serve_api(self, request: rendering.Request) -> rendering.Payload: ...

        async def _serve_apis(self, request: rendering.Request) -> rendering.Payload: ...

    # -- discovery ---------------------------------------------------------------------------
    def _discovery(self, path: str, request: rendering.Request) -> Awaitable[Any] | None:
        parts = [p for p in path.strip("/").split("/") if p]
        if request.method.value != "GET" or not parts or parts[0] not in {"api", "apis"}:
            return None
        if parts == ["api"]:
            return self._serve_api(request)
        if parts == ["apis"]:
            return self._serve_apis(request)
        if len(parts) == 2 and parts[0] == "apis":
            return self._serve_group_named(parts[1])
        if len(parts) == 2 or (len(parts) == 3 and parts[0] == "apis"):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            return self._serve_group_version(group, version)
        return None

    async def _serve_group_named(self, group: str) -> dict[str, Any]:
        versions = sorted({r.version for r in self._get_resources() if r.group == group and r.version})
        if not versions:
            raise errors.resource_not_found()
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "apiVersion": "v1",
            "kind": "APIGroup",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[-1],
        }

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        assert request.resource is not None
        return await self._serve_group_version(request.resource.group or "", request.resource.version or "")

    async def _serve_group_version(self, group: str, version: str) -> dict[str, Any]:
        entries = []
        for res in self._get_resources():
            if res.group != group or res.version != version or not res.plural:
                continue
            info = self.resources[res]
            entries.append(
                {
                    "name": res.plural,
                    "singularName": info.singular or res.plural,
                    "namespaced": bool(info.namespaced),
                    "kind": info.kind or res.plural,
                    "verbs": sorted(info.verbs),
                    "shortNames": sorted(info.shortnames),
                    "categories": sorted(info.categories),
                }
            )
            for sub in sorted(info.subresources):
                entries.append(
                    {
                        "name": f"{res.plural}/{sub}",
                        "singularName": "",
                        "namespaced": bool(info.namespaced),
                        "kind": info.kind or res.plural,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        if not entries:
            raise errors.resource_not_found()
        return {
            "apiVersion": "v1",
            "kind": "APIResourceList",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": entries,
        }

    async def _serve_server_version(self, request: rendering.Request) -> rendering.Payload:
        return {
            "major": "1",
            "minor": "34",
            "gitVersion": "v1.34.0+heteropool-emulator",
            "gitCommit": "0" * 40,
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def _get_resources(self) -> list[kmock.resource]:
        return [key for key in self.resources if isinstance(key, kmock.resource)]


@functools.cache
def bundled_resources() -> bytes:
    # kmock's own load_bundled() uses the deprecated importlib.resources.read_binary.
    return gzip.decompress(importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes())
