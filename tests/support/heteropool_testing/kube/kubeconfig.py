"""Write a kubeconfig that points kopf, the `kubernetes` client and kubectl at an emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_kubeconfig(
    path: Path, server_url: str, *, namespace: str = "default", user: dict[str, Any] | None = None
) -> Path:
    """`user` replaces the kubeconfig user (default: a static token), e.g. an `exec` plugin."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server_url.rstrip("/")}}],
        "users": [{"name": "emulator", "user": user or {"token": "emulator-token"}}],
        "contexts": [
            {"name": "emulator", "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace}}
        ],
        "current-context": "emulator",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
