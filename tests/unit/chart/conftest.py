"""Fixtures for the Helm chart tests: the real helm binary, a renderer, and the chart generator.

helm comes from `make` (scripts/install_helm.py puts it in .venv/bin). Tests that need it skip,
naming the fix, only when no helm binary exists at all; CI installs it, so CI runs them.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "heteropool"

Render = Callable[..., list[dict[str, Any]]]


def find_helm() -> str | None:
    """helm next to this Python (the venv's bin, where `make` installs it), else on PATH."""
    beside = Path(sys.executable).parent / "helm"
    if beside.is_file():
        return str(beside)
    return shutil.which("helm")


def _make_installed_helm() -> bool:
    """True when `make` ran its install step (which installs helm) after install_helm.py last changed."""
    stamp = Path(sys.prefix) / ".installed"
    script = REPO / "scripts" / "install_helm.py"
    return stamp.is_file() and stamp.stat().st_mtime >= script.stat().st_mtime


@pytest.fixture(scope="session")
def helm() -> str:
    path = find_helm()
    if path is None:
        if _make_installed_helm():
            pytest.fail(f"make's install step ran, yet no helm in {Path(sys.executable).parent} or on PATH")
        pytest.skip("no helm binary: run `make test` or `.venv/bin/python scripts/install_helm.py` to install it")
    return path


def _run(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=60, cwd=REPO)


@pytest.fixture(scope="session")
def run_helm(helm: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_helm("lint", ...)` -> the finished helm process (not checked)."""
    return lambda *args: _run(helm, *args)


@pytest.fixture(scope="session")
def render(helm: str) -> Render:
    """`render("--set", "a=b", ...)` -> the objects `helm template` prints (release t, namespace heteropool)."""
    cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def _render(*args: str) -> list[dict[str, Any]]:
        if args not in cache:
            out = _run(helm, "template", "t", str(CHART), "--namespace", "heteropool", *args)
            assert out.returncode == 0, out.stderr
            cache[args] = [o for o in yaml.safe_load_all(out.stdout) if o]
        return cache[args]

    return _render


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    """scripts/generate_chart.py, imported by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("generate_chart", REPO / "scripts" / "generate_chart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_chart", module)
    spec.loader.exec_module(module)
    return module
