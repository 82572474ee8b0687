"""A pydantic `ValidationError` as one line a user can act on: the field's path and the problem.

Every parser of user input (the pool spec, endpoint files, the routing document, policy profiles
and plugin parameters, the simulator's flags and admin API, the picker's objectives) reports its
first error this way, so paths read alike everywhere: `spec.vendors[0].replicas`, `endpoints[2].url`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

__all__ = ["error_path", "error_problem", "first_problem"]


def error_path(root: str, loc: Sequence[Any]) -> str:
    """`root` followed by the location: `.field` for names, `[i]` for list positions."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def error_problem(error: Mapping[str, Any]) -> str:
    """What is wrong, with the offending value when it is short enough to show."""
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "is required"
    value = error.get("input")
    shown = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    return f"{error['msg']} (got {shown})"


def first_problem(exc: ValidationError, root: str = "") -> tuple[str, str]:
    """(path, problem) of the first error; the path is `root` alone for an error of the whole input."""
    error = exc.errors()[0]
    return error_path(root, error["loc"]), error_problem(error)
