"""Plain HTTP against the emulator, for tests of its wire behaviour."""

from __future__ import annotations

from typing import Any

import aiohttp


class Http:
    """Every call returns (status, parsed JSON body)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def __call__(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)
