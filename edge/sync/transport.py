"""Transports that carry one sync request to the district and its answer back."""

from __future__ import annotations

import http.client
from typing import Protocol
from urllib.parse import urlsplit

from edge.errors import InputError, SyncFailed, Unreachable
from edge.sync.protocol import MAX_ANSWER

__all__ = ["HttpTransport", "Transport"]


class Transport(Protocol):
    """Moves one request to the server and its answer back; raises ``Unreachable`` on failure."""

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]: ...


class HttpTransport:
    """``Transport`` over HTTP(S) with one kept-alive connection (standard library only).

    Args:
        base_url: ``http://host:port`` or ``https://host``; timeout: seconds per request.
    """

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"server URL {base_url!r} is not http://host[:port] or https://host[:port]")
        self.base_url = base_url.rstrip("/")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (0, 1):
            conn = self._connect()
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read(MAX_ANSWER + 1)
                if len(data) > MAX_ANSWER:
                    raise SyncFailed(f"the answer from {self.base_url} is over {MAX_ANSWER} bytes")
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                # A kept-alive connection the server closed: try once on a fresh one. The request
                # carries its own nonce, so if the first one did arrive this one is refused as a
                # replay (401) and the caller syncs again, which is idempotent.
                if attempt == 1:
                    raise Unreachable(f"{self.base_url}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise Unreachable(f"{self.base_url}: {type(exc).__name__}: {exc}") from None
        raise Unreachable(f"{self.base_url}: no answer")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
