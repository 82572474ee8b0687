"""The Envoy bootstrap heteropool renders, checked by Envoy itself (`envoy --mode validate`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from heteropool.epp.bootstrap import DataPlaneConfig, envoy_bootstrap
from heteropool.supervise import envoy_executable


@pytest.mark.parametrize(
    "config",
    [
        DataPlaneConfig(endpoints=[("127.0.0.1", 8001), ("127.0.0.1", 8002)], epp_host="127.0.0.1", epp_port=9002),
        DataPlaneConfig(
            endpoints=[("granite-vllm.inference.svc", 8000)],
            epp_host="granite-epp.inference.svc",
            epp_port=9002,
            epp_tls=True,
            request_body_mode="FULL_DUPLEX_STREAMED",
            fail_open=True,
            subset_hint_header="x-subset",
        ),
    ],
    ids=["local-buffered", "cluster-full-duplex-tls"],
)
def test_envoy_accepts_the_bootstrap(config: DataPlaneConfig, tmp_path: Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(envoy_bootstrap(config)))
    result = subprocess.run(
        [envoy_executable(), "--mode", "validate", "-c", str(path), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cluster_mode_resolves_the_headless_service_and_admin_stays_local() -> None:
    doc = envoy_bootstrap(DataPlaneConfig(endpoints=[("granite-vllm", 8000)], epp_host="granite-epp", epp_port=9002))
    pool = next(c for c in doc["static_resources"]["clusters"] if c["name"] == "pool")
    assert pool["type"] == "STRICT_DNS"
    assert doc["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="request_body_mode"):
        DataPlaneConfig(endpoints=[("a", 1)], epp_host="e", epp_port=1, request_body_mode="STREAMED")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="endpoints"):
        DataPlaneConfig(endpoints=[], epp_host="e", epp_port=1)
