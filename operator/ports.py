"""Say clearly when a port a command should listen on is taken, before a framework hides it in a traceback."""

from __future__ import annotations

import errno
import socket

__all__ = ["bind_problem"]


def bind_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on now (e.g. another process has it), or None when it can.

    Binds and releases at once, with SO_REUSEADDR like the servers do, so a port in TIME_WAIT is fine.
    """
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use (another process listens there; pick another port)"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None
