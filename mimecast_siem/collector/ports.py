"""The one error of binding an HTTP port, shared by ``run`` and ``backfill --metrics-port``.

Its own module so that the backfill command can raise it without importing the daemon (aiohttp's
server, the supervisor and everything below them: start-up cost, issue 16).
"""

from __future__ import annotations

import errno

from mimecast_siem.errors import ConfigError


class PortUnavailable(ConfigError):
    """The HTTP port (server.host:server.port) cannot be bound: in use, or not allowed."""

    def __init__(self, host: str, port: int, error: OSError, *, key: str = "server.port") -> None:
        reason = (
            "is already in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror or error})"
        )
        where = "server.host:server.port" if key == "server.port" else f"server.host:{key}"
        super().__init__(
            f"{host}:{port} ({where}) {reason}; stop the other process, or set {key} to a free port (0 picks one)"
        )
        self.host = host
        self.port = port


__all__ = ["PortUnavailable"]
