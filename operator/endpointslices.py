"""EndpointSlices as URLs: the one reading of a slice both the operator's weight loop and the
Endpoint Picker's discovery use, so both count the same replicas as ready. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heteropool.names import SERVICE_NAME_LABEL

__all__ = ["slice_endpoints", "slice_service"]


def slice_endpoints(obj: Mapping[str, Any], port_name: str | None = "http") -> list[tuple[str, bool]]:
    """(url, ready) of every address in an EndpointSlice.

    Readiness follows the API: `ready` unset means ready; a terminating endpoint is not ready (it
    is draining: new work must not go to it). The port is the one named `port_name`, else the first.
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


def slice_service(obj: Mapping[str, Any]) -> str:
    """The Service an EndpointSlice belongs to ('' when it carries no service-name label)."""
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL, ""))
