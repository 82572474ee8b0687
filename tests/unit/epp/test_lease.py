"""The picker's leader election: the pure rule, then two candidates against the API emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from heteropool.epp.discovery import InClusterCredentials
from heteropool.epp.lease import LeaseElector, decide


def _lease(holder: str, renewed: str = "2026-12-05T10:00:00.000000Z", duration: int = 15) -> dict[str, Any]:
    return {"spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": duration}}


NOW = 1796464800.0  # 2026-12-05T10:00:00Z


@pytest.mark.parametrize(
    ("lease", "now", "action"),
    [
        (None, NOW, "create"),
        (_lease("me"), NOW + 100, "renew"),
        (_lease("other"), NOW + 5, "follow"),
        (_lease("other"), NOW + 16, "take-over"),  # the holder stopped renewing
        (_lease(""), NOW, "take-over"),  # released by a holder that shut down
    ],
    ids=["none", "own", "live-holder", "expired", "released"],
)
def test_decide(lease: dict[str, Any] | None, now: float, action: str) -> None:
    assert decide(lease, "me", now) == action


async def test_one_leader_then_a_quick_hand_over(kube_emulator: Any, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    creds = InClusterCredentials(str(kube_emulator.url), sa_dir=tmp_path)
    clock = [NOW]
    a = LeaseElector(creds, "default", "pool-epp", "a", clock=lambda: clock[0])
    b = LeaseElector(creds, "default", "pool-epp", "b", clock=lambda: clock[0])
    async with aiohttp.ClientSession() as session:
        assert await a.step(session) is True
        assert await b.step(session) is False
        clock[0] += 5
        assert (await a.step(session), await b.step(session)) == (True, False)  # renewals keep it
        clock[0] += 16  # a stops renewing (its pod died)
        assert await b.step(session) is True
        assert await a.step(session) is False  # the old holder stands by, never two leaders
        await b._release(session)  # b shuts down gracefully
        assert await a.step(session) is True  # at once, not after the lease duration
