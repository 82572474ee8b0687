"""Label and field selectors as the apiserver parses them (`labelSelector=`, `fieldSelector=`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import bad_request

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:\s(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside `in (a,b)` parentheses."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    eq = _EQ_RE.match(term)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    st = _SET_RE.match(term)
    if st:
        negated, key, op, values_text = st.groups()
        if op is None:
            if negated:
                return lambda labels: key not in labels
            return lambda labels: key in labels
        if negated:
            raise bad_request(f"unable to parse requirement: {term!r}")
        values = {v.strip() for v in values_text.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    raise bad_request(f"unable to parse requirement: found {term!r}, expected a label selector term")


def parse_label_selector(text: str | None) -> Predicate:
    """Return a predicate over whole objects; `=`, `==`, `!=`, `in`, `notin`, `key`, `!key`."""
    if not text:
        return lambda obj: True
    checks = [_label_term(term) for term in _split_terms(text)]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


def _field_check(path: str, value: str, *, negate: bool) -> Predicate:
    def check(obj: Mapping[str, Any]) -> bool:
        return (_field_value(obj, path) == value) != negate

    return check


def parse_field_selector(text: str | None) -> Predicate:
    """Equality field selectors on any dotted path (the apiserver allows only a few per kind)."""
    if not text:
        return lambda obj: True
    checks: list[Predicate] = []
    for term in _split_terms(text):
        eq = re.match(r"^\s*([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not eq:
            raise bad_request(f"invalid field selector: {term!r}")
        path, op, value = eq.groups()
        checks.append(_field_check(path, value, negate=op == "!="))
    return lambda obj: all(check(obj) for check in checks)
