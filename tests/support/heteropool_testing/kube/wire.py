"""Request parsing shared by the emulator's handlers: resource URLs, headers, bodies."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import yaml
from kmock._internal import rendering

from . import errors


@attrs.frozen
class Target:
    """A resource URL split into its parts (kmock's own parser fails on /api/v1/namespaces)."""

    group: str
    version: str
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_target(path: str) -> Target | None:
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return Target(group, version)
    namespace = None
    is_ns_subresource = group == "" and len(rest) == 3 and rest[2] in {"status", "finalize"}
    if rest[0] == "namespaces" and len(rest) >= 3 and not is_ns_subresource:
        namespace, rest = rest[1], rest[2:]
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) or None
    return Target(group, version, rest[0], namespace, name, subresource)


def header(request: rendering.Request, name: str) -> str:
    for key, value in request.headers.items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def body(request: rendering.Request) -> Any:
    """The parsed JSON or YAML body (apply patches and kubectl send YAML), or None."""
    if request.data is not None and not hasattr(request.data, "getall"):
        return request.data
    if request.text.strip():
        try:
            return yaml.safe_load(request.text)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"cannot decode the request body: {exc}") from exc
    return None


def logged_body(request: rendering.Request) -> Any:
    try:
        return copy.deepcopy(body(request))
    except errors.ApiError:
        return request.text


def object_body(request: rendering.Request) -> dict[str, Any]:
    parsed = body(request)
    if not isinstance(parsed, dict):
        raise errors.bad_request("the request body must be a Kubernetes object")
    return parsed
