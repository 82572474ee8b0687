"""Object-metadata validation the apiserver applies to every kind: names and labels."""

from __future__ import annotations

import re
from typing import Any

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _subdomain(value: str) -> str | None:
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not all(_DNS_LABEL.match(part) for part in value.split(".")):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
            " '-' or '.', and must start and end with an alphanumeric character"
        )
    return None


def _label(value: str, pattern: re.Pattern[str], what: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not pattern.match(value):
        return (
            f"a {what} must consist of lower case alphanumeric characters or '-', and must"
            " start and end with an alphanumeric character"
        )
    return None


def name_problem(group: str, plural: str, name: str) -> str | None:
    """Why the apiserver would reject this name for this resource, or None."""
    if group == "rbac.authorization.k8s.io":  # path-segment names, e.g. "system:reader"
        bad = name in {".", ".."} or "/" in name or "%" in name
        return "may not contain '/' or '%' and may not be '.' or '..'" if bad else None
    if group == "" and plural == "services":
        return _label(name, _DNS_1035, "DNS-1035 label")
    if group == "" and plural == "namespaces":
        return _label(name, _DNS_LABEL, "lowercase RFC 1123 label")
    return _subdomain(name)


def label_causes(labels: Any) -> list[dict[str, str]]:
    causes: list[dict[str, str]] = []
    if not isinstance(labels, dict):
        return causes
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        problem = (
            (_subdomain(prefix) if prefix else None)
            or ("name part must be no more than 63 characters" if len(name) > 63 else None)
            or (
                None
                if name and _LABEL_VALUE.match(name)
                else "name part must consist of alphanumeric"
                " characters, '-', '_' or '.', and must start and end with an alphanumeric character"
            )
        )
        if problem:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "metadata.labels",
                    "message": f"Invalid value: {key!r}: {problem}",
                }
            )
        value_problem = (
            "must be a string"
            if not isinstance(value, str)
            else "must be no more than 63 characters"
            if len(value) > 63
            else None
            if _LABEL_VALUE.match(value)
            else "a valid label must be an empty string or consist of alphanumeric"
            " characters, '-', '_' or '.', and must start and end with an"
            " alphanumeric character"
        )
        if value_problem:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": f"metadata.labels.{key}",
                    "message": f"Invalid value: {str(value)[:80]!r}: {value_problem}",
                }
            )
    return causes
