"""`make chart`: the chart packaged for an OCI registry, with everything its templates read."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]


def test_make_chart_packages_a_lintable_oci_ready_chart(tmp_path: Path, helm: str, render: Any) -> None:
    make = shutil.which("make")
    assert make is not None, "make is needed to build the project"
    # STAMP= : this venv is the one installed; BIN: its helm and python.
    args = [make, "chart", f"CHART_DEST={tmp_path}", "STAMP=", f"BIN={Path(sys.executable).parent}"]
    out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    chart = yaml.safe_load((REPO / "charts" / "heteropool" / "Chart.yaml").read_text())
    package = tmp_path / f"heteropool-{chart['version']}.tgz"
    with tarfile.open(package) as tar:
        names = set(tar.getnames())
    assert {"heteropool/Chart.yaml", "heteropool/values.schema.json", "heteropool/dashboards/heteropool.json"} <= names
    assert not any("/." in n and not n.endswith(".helmignore") for n in names)
    # What `helm install oci://...` would render: the package itself, dashboard included.
    rendered = subprocess.run(
        [helm, "template", "t", str(package), "--set", "monitoring.grafanaDashboard.enabled=true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert '"uid": "heteropool"' in rendered.stdout
