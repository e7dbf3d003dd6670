"""The server's sans-IO request and answer, and the bounds on what one request may ask."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.sync import CONTENT_TYPE

__all__ = ["HttpRequest", "HttpResponse", "Limits"]


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask of the server."""

    max_body: int = 16 << 20
    max_push: int = 5000
    max_limit: int = 5000
    max_answer_bytes: int = 8 << 20
    window_ms: int = 5 * 60_000
    rate_per_s: float = 20.0
    burst: float = 60.0


@dataclass(frozen=True)
class HttpRequest:
    """One request; ``headers`` keys are lower case."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    oversize: int | None = None  # the transport stopped reading a body this large (-1: size unknown)

    @property
    def path_query(self) -> str:
        """What the request signature covers: the path, and ``?query`` when there is one."""
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = CONTENT_TYPE
