"""FileEndpointSource: the endpoint file is reloaded on change; a broken file keeps the old set."""

from __future__ import annotations

import asyncio
from pathlib import Path

from heteropool.epp.sources import FileEndpointSource
from heteropool.routing import EndpointEntry

from ..scheduling.conftest import wait_for


async def test_file_changes_are_delivered_and_broken_files_ignored(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.yaml"
    path.write_text("- {url: 'http://a:1', group: nvidia}\n")
    src = FileEndpointSource(path, interval_s=0.005)
    assert [e.url for e in src.load()] == ["http://a:1"]
    seen: list[list[EndpointEntry]] = []
    task = asyncio.create_task(src.run(lambda entries: seen.append(list(entries))))
    try:
        path.write_text(
            "- {url: 'http://a:1', group: nvidia, capacityMultiplier: 0}\n- {url: 'http://b:1', group: amd}\n"
        )
        await wait_for(lambda: len(seen) == 1)
        assert [(e.url, e.capacity_multiplier) for e in seen[0]] == [("http://a:1", 0.0), ("http://b:1", None)]
        path.write_text("- {url: 'ftp://nope', group: x}\n")
        await wait_for(lambda: not src.changed())
        path.write_text('[{"url": "http://c:1", "group": "gaudi", "blockSize": 128}]')
        await wait_for(lambda: len(seen) == 2)
        assert seen[1][0].block_size == 128
    finally:
        task.cancel()


def test_an_endpoint_file_with_the_deprecated_field_names_is_read_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "endpoints.yaml"
    path.write_text("- {url: 'http://a:1', vendor: nvidia, weight: 0.5, block_size: 16, prefill_tokens_per_s: 9000}\n")
    with caplog.at_level("WARNING", logger="heteropool.deprecations"):
        [entry] = FileEndpointSource(path).load()
    assert (entry.group, entry.capacity_multiplier, entry.block_size, entry.prefill_tokens_per_s) == (
        "nvidia",
        0.5,
        16,
        9000,
    )
    assert f"{path}[0]: field 'vendor' is deprecated, use 'group'" in caplog.text
    assert "field 'weight' is deprecated, use 'capacityMultiplier'" in caplog.text
