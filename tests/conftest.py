"""Shared fixtures. `tests/` goes on sys.path so the emulator package imports as `kube`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kube.fixtures import kube_emulator, kube_emulator_factory, kube_server_process  # noqa: E402

__all__ = ["kube_emulator", "kube_emulator_factory", "kube_server_process"]
