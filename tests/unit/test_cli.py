"""The `heteropool` command itself: what every subcommand shares."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from heteropool.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_version_prints_the_project_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"heteropool {project['version']}\n"
