"""FileEndpointSource: the endpoint file is reloaded on change; a broken file keeps the old set."""

from __future__ import annotations

import asyncio
from pathlib import Path

from heteropool.epp.sources import FileEndpointSource
from heteropool.routing import EndpointEntry

from ..scheduling.conftest import wait_for


async def test_file_changes_are_delivered_and_broken_files_ignored(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.yaml"
    path.write_text("- {url: 'http://a:1', vendor: nvidia}\n")
    src = FileEndpointSource(path, interval_s=0.005)
    assert [e.url for e in src.load()] == ["http://a:1"]
    seen: list[list[EndpointEntry]] = []
    task = asyncio.create_task(src.run(lambda entries: seen.append(list(entries))))
    try:
        path.write_text("- {url: 'http://a:1', vendor: nvidia, weight: 0}\n- {url: 'http://b:1', vendor: amd}\n")
        await wait_for(lambda: len(seen) == 1)
        assert [(e.url, e.weight) for e in seen[0]] == [("http://a:1", 0.0), ("http://b:1", None)]
        path.write_text("- {url: 'ftp://nope', vendor: x}\n")
        await wait_for(lambda: not src.changed())
        path.write_text('[{"url": "http://c:1", "vendor": "gaudi", "block_size": 128}]')
        await wait_for(lambda: len(seen) == 2)
        assert seen[1][0].block_size == 128
    finally:
        task.cancel()
