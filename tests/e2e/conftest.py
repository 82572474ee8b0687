"""Fixtures of the process-level tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from heteropool_testing.processes import DataPlanes


@pytest.fixture
def data_planes(tmp_path: Path) -> Iterator[DataPlanes]:
    """Envoy + `heteropool epp` pairs a test starts; all stopped when it ends."""
    planes = DataPlanes(tmp_path)
    yield planes
    planes.stop_all()
