"""Fixtures for the GitOps tests: the ArgoCD health check run in Lua 5.1 (lupa), as ArgoCD runs it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lupa import lua51

REPO = Path(__file__).resolve().parents[3]
ARGOCD = REPO / "samples" / "argocd"
HEALTH_DIR = ARGOCD / "resource_customizations" / "heteropool.dev" / "HeteroInferencePool"

# ArgoCD runs health scripts in gopher-lua (Lua 5.1) with only the base, table, package and a
# safe os library open (util/lua in argo-cd); the script sees the object as the global `obj`.
# The sandbox gives the script the base functions and `table` only, so a script that needs the
# string library (closed in ArgoCD unless useOpenLibs) fails here too.
_SANDBOX = """
function(source)
  local chunk = assert(loadstring(source, "health.lua"))
  return function(obj)
    local env = {
      ipairs = ipairs, pairs = pairs, next = next, select = select, type = type,
      tostring = tostring, tonumber = tonumber, error = error, pcall = pcall, assert = assert,
      unpack = unpack, table = table, obj = obj,
    }
    setfenv(chunk, env)
    return chunk()
  end
end
"""

HealthCheck = Callable[[dict[str, Any]], dict[str, Any]]


def _make_health_check(script: str) -> HealthCheck:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    assert lua.lua_version == (5, 1)
    check = lua.eval(_SANDBOX)(script)

    def run(obj: dict[str, Any]) -> dict[str, Any]:
        result = check(lua.table_from(obj, recursive=True))
        return dict(result.items())

    return run


@pytest.fixture(scope="session")
def health_script() -> str:
    return (HEALTH_DIR / "health.lua").read_text()


@pytest.fixture(scope="session")
def health_check(health_script: str) -> HealthCheck:
    """hip object (dict) -> {"status": ..., "message": ...}, computed by health.lua."""
    return _make_health_check(health_script)


@pytest.fixture(scope="session")
def make_health_check() -> Callable[[str], HealthCheck]:
    """Lua source -> a health check run in the same sandbox."""
    return _make_health_check
