"""Errors of the gateway's configuration layer (profiles, plugins, settings)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A policy, plugin or gateway setting is invalid; the message starts with the path.

    Example: ``profiles.heteropool.scorers[1].type: unknown plugin type 'qeue-scorer'``.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
