"""scripts/image.sh with stub engines: which engine `make image` picks, and the docker/podman build
that releases use (a registry base, the labels' build arguments, the CA secret only when given).
The buildah path is exercised for real by `make image-test`."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "image.sh"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def stub(bin_dir: Path, name: str, info_exit: int) -> None:
    """An engine that logs its arguments; `NAME info` exits `info_exit` (0: the engine answers)."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "$STUB_LOG"\n[ "$1" = info ] && exit {info_exit}\nexit 0\n')
    path.chmod(0o755)


def run(tmp_path: Path, command: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = tmp_path / "calls.log"
    log.touch()
    environment = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "STUB_LOG": str(log), "HOME": str(tmp_path), **env}
    done = subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True, env=environment, check=False)
    return done, log.read_text().splitlines()


@pytest.fixture(autouse=True)
def bin_dir(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    return tmp_path / "bin"


@pytest.mark.parametrize(
    ("docker_info", "podman_info", "forced", "engine"),
    [(0, 0, "", "docker"), (1, 0, "", "podman"), (1, 1, "", "buildah"), (0, 0, "buildah", "buildah")],
    ids=["docker-answers", "only-podman-answers", "no-engine-answers", "forced"],
)
def test_engine_is_a_working_docker_or_podman_else_buildah(
    tmp_path: Path, bin_dir: Path, docker_info: int, podman_info: int, forced: str, engine: str
) -> None:
    stub(bin_dir, "docker", docker_info)
    stub(bin_dir, "podman", podman_info)
    done, _ = run(tmp_path, "engine", **({"ENGINE": forced} if forced else {}))
    assert (done.returncode, done.stdout.strip()) == (0, engine), done.stderr


def test_docker_build_uses_the_registry_base_labels_and_the_ca_secret(tmp_path: Path, bin_dir: Path) -> None:
    stub(bin_dir, "docker", 0)
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    done, calls = run(tmp_path, "build", CA_BUNDLE=str(ca))
    assert done.returncode == 0, done.stderr
    build = next(c for c in calls if c.startswith("docker build"))
    assert "BASE_IMAGE" not in build  # the Dockerfile's default: debian:bookworm-slim from the registry
    assert f"--secret id=ca-certificates,src={ca}" in build
    assert f"--build-arg VERSION={VERSION}" in build
    assert "--build-arg REVISION=" in build
    assert build.endswith(f"--tag ghcr.io/heteropool/heteropool:{VERSION} --file Dockerfile .")


def test_release_build_passes_no_secret(tmp_path: Path, bin_dir: Path) -> None:
    stub(bin_dir, "docker", 0)
    done, calls = run(tmp_path, "build", CA_BUNDLE="", IMAGE="registry.example/heteropool:rc1")
    assert done.returncode == 0, done.stderr
    build = next(c for c in calls if c.startswith("docker build"))
    assert "--secret" not in build
    assert "--tag registry.example/heteropool:rc1" in build
