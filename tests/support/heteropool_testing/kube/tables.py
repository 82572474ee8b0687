"""Server-side printing (`Accept: ...;as=Table`): what `kubectl get` shows, printer columns included.

CRDs use their `additionalPrinterColumns` (Kubernetes JSONPath, `date` columns as ages, several
matches joined by commas, as the apiserver does); built-in kinds get Name and Age only.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

_TOKEN = re.compile(
    r"""\.\.|\.([A-Za-z0-9_$-]+)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*"([^"]*)"\s*\]"""
    r"""|\[(\*|-?\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*(==|!=)\s*["']([^"']*)["']\)\]"""
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The subset of Kubernetes JSONPath that printer columns use."""
    nodes = [obj]
    text = path.strip().lstrip("{").rstrip("}").strip()
    text = text[1:] if text.startswith("$") else text
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            return []
        pos = match.end()
        field, quoted, dquoted, index, filter_key, op, filter_value = match.groups()
        key = field or (quoted.replace("\\.", ".") if quoted is not None else dquoted)
        nxt: list[Any] = []
        for node in nodes:
            if key is not None and isinstance(node, dict) and key in node:
                nxt.append(node[key])
            elif index == "*":
                nxt += node if isinstance(node, list) else list(node.values()) if isinstance(node, dict) else []
            elif index is not None and isinstance(node, list) and -len(node) <= int(index) < len(node):
                nxt.append(node[int(index)])
            elif filter_key is not None and isinstance(node, list):
                for item in node:
                    got = jsonpath(item, "." + filter_key)
                    same = bool(got) and str(got[0]) == filter_value
                    if same == (op == "=="):
                        nxt.append(item)
        nodes = nxt
    return nodes


def _age(timestamp: str) -> str:
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return "<unknown>"
    seconds = int((datetime.datetime.now(tz=datetime.UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _cell(obj: dict[str, Any], column: dict[str, Any]) -> Any:
    values = jsonpath(obj, column.get("jsonPath", ""))
    if not values:
        return None
    if column.get("type") == "date":
        return _age(str(values[0]))
    if len(values) == 1 and not isinstance(values[0], (dict, list)):
        return values[0]
    return ",".join(str(v) for v in values)


def to_table(
    objects: list[dict[str, Any]], columns: tuple[dict[str, Any], ...], list_meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    if not columns:
        columns = ({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},)
    definitions = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "priority": 0,
            "description": "Name must be unique within a namespace.",
        }
    ]
    definitions += [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in columns
    ]
    rows = [
        {
            "cells": [obj["metadata"]["name"], *(_cell(obj, c) for c in columns)],
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]},
        }
        for obj in objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": definitions,
        "rows": rows,
    }
