"""The gateway package's public surface changes only on purpose."""

from __future__ import annotations

import heteropool.scheduling as gateway


def test_exported_members() -> None:
    assert sorted(gateway.__all__) == ["ConfigError", "DEFAULT_POLICY", "build_router"]
    for name in gateway.__all__:
        assert hasattr(gateway, name)
