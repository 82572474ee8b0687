"""Faults through the real data plane (Envoy + `heteropool epp`) that a platform team meets:
a replica that accepts no connections, a replica that hangs, idle and half-sent client
connections, and the picker itself going away under each failure mode.

Everything binds 127.0.0.1; timeouts are shortened through the same DataPlaneConfig the operator
renders, so each case ends in seconds. bench/dataplane_faults.py measures the same cases at scale.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

from heteropool_testing.processes import DataPlane, DataPlanes, Proc, start_sim

pytestmark = pytest.mark.slow

MODEL = "ibm-granite/granite-4.1-8b"


def _body(i: int) -> dict[str, object]:
    return {"model": MODEL, "prompt": f"fault case {i}", "max_tokens": 2}


@pytest.fixture
def replicas() -> Iterator[list[Proc]]:
    started = [
        start_sim("h100-nvl", None, 20.0, "--enable-admin-api"),
        start_sim("mi325x", None, 20.0, "--enable-admin-api"),
    ]
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A replica address that never accepts: its accept queue is full, so connects time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue; further SYNs are dropped
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(listener.getsockname())
        fillers.append(s)
    host, port = listener.getsockname()
    yield f"http://{host}:{port}"
    for s in fillers:
        s.close()
    listener.close()


@pytest.fixture
def plane(data_planes: DataPlanes) -> Callable[..., DataPlane]:
    def make(urls: list[str], *epp_args: str, **envoy: object) -> DataPlane:
        entries: list[dict[str, object]] = [
            {"url": u, "group": f"g{i}", "capacity": 1000.0} for i, u in enumerate(urls)
        ]
        return data_planes.start(entries, [Proc([], u, "") for u in urls], "round-robin", *epp_args, **envoy)

    return make


def test_a_replica_that_accepts_no_connections_is_retried_elsewhere(
    replicas: list[Proc], black_hole: str, plane
) -> None:
    dp = plane([black_hole, replicas[0].url], connect_timeout_s=0.5)
    with httpx.Client(timeout=30) as client:
        codes = Counter(client.post(dp.url + "/v1/completions", json=_body(i)).status_code for i in range(20))
    assert codes == {200: 20}  # round-robin sends half the picks to the black hole: every one retried


def test_a_hanging_replica_costs_a_bounded_wait_then_is_avoided(replicas: list[Proc], plane) -> None:
    hung, healthy = replicas
    dp = plane([hung.url, healthy.url], per_try_idle_timeout_s=1.0)
    with httpx.Client(timeout=30) as client:
        assert (
            client.post(hung.url + "/admin/config", json={"error_rate": 1.0, "error_mode": "hang"}).status_code == 200
        )
        latencies, codes = [], Counter()
        for i in range(10):
            t0 = time.monotonic()
            codes[client.post(dp.url + "/v1/completions", json=_body(i)).status_code] += 1
            latencies.append(time.monotonic() - t0)
    assert codes == {200: 10}
    assert max(latencies) < 5.0, latencies  # one idle timeout (1 s) and a retry, never the client's 30 s


def test_idle_and_half_sent_connections_are_closed_by_timeouts(replicas: list[Proc], plane) -> None:
    dp = plane([r.url for r in replicas], request_headers_timeout_s=1.0, connection_idle_timeout_s=1.0)
    host, port = dp.url.removeprefix("http://").split(":")
    idle, half = [], []
    for _ in range(100):
        idle.append(socket.create_connection((host, int(port))))
        s = socket.create_connection((host, int(port)))
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        half.append(s)
    with httpx.Client(timeout=30) as client:  # others are unaffected meanwhile
        assert client.post(dp.url + "/v1/completions", json=_body(0)).status_code == 200

    def closed_by_envoy(s: socket.socket) -> bool:
        """True once Envoy ends the connection (EOF, perhaps after a 408); False if still open after 5 s."""
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return True

    assert all(closed_by_envoy(s) for s in idle + half)
    for s in idle + half:
        s.close()


@pytest.mark.parametrize("failure_mode", ["FailClose", "FailOpen"])
def test_the_picker_going_away_follows_the_failure_mode(replicas: list[Proc], plane, failure_mode: str) -> None:
    dp = plane([r.url for r in replicas], fail_open=failure_mode == "FailOpen", message_timeout_s=1.0)
    with httpx.Client(timeout=30) as client:
        assert client.post(dp.url + "/v1/completions", json=_body(0)).status_code == 200
        dp.epp.kill()
        codes = Counter(client.post(dp.url + "/v1/completions", json=_body(i)).status_code for i in range(5))
    if failure_mode == "FailOpen":
        assert codes == {200: 5}  # Envoy picks on its own (least-request over the same replicas)
    else:
        assert set(codes) <= {500, 502, 503, 504} and sum(codes.values()) == 5  # an error, never a random replica
