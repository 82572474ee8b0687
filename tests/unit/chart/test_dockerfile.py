"""The Dockerfile, read as text: multi-stage, non-root UID 65532 that the chart's and the
operator's pod security contexts assume, `heteropool` as the entrypoint, the tag that the chart and
the operator deploy. `make image-test` builds and runs it (tests/image)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

from heteropool.vendors import HETEROPOOL_IMAGE

REPO = Path(__file__).resolve().parents[3]


def instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_image_is_multi_stage_and_copies_only_the_built_environment() -> None:
    froms = [arg for op, arg in instructions() if op == "FROM"]
    assert len(froms) >= 2
    final_stage = instructions()[[i for i, (op, _) in enumerate(instructions()) if op == "FROM"][-1] :]
    copies = [arg for op, arg in final_stage if op == "COPY"]
    assert copies and all(arg.startswith("--from=build") for arg in copies)


def test_image_runs_as_uid_65532_with_the_heteropool_entrypoint() -> None:
    ops = instructions()
    user = [arg for op, arg in ops if op == "USER"][-1]
    assert re.fullmatch(r"65532(:65532)?", user)
    entrypoint = [arg for op, arg in ops if op == "ENTRYPOINT"][-1]
    assert json.loads(entrypoint) == ["heteropool"]


def test_build_context_holds_only_what_the_build_copies() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for op, arg in instructions():
        if op == "COPY" and not arg.startswith("--from"):
            sources = arg.split()[:-1]
            assert set(sources) <= allowed, sources
            assert all((REPO / s).exists() for s in sources)


def test_the_built_tag_is_the_one_the_chart_and_the_operator_deploy() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((REPO / "charts" / "heteropool" / "Chart.yaml").read_text())
    repository = yaml.safe_load((REPO / "charts" / "heteropool" / "values.yaml").read_text())["image"]["repository"]
    args = dict(arg.split("=", 1) for op, arg in instructions() if op == "ARG" and "=" in arg)
    assert chart["appVersion"] == args["VERSION"] == version
    assert HETEROPOOL_IMAGE == f"{repository}:{version}"
    assert f"IMAGE ?= {repository}:$(VERSION)" in (REPO / "Makefile").read_text()
