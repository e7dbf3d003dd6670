"""Request authentication: the ``Linli-Sig`` header, the timestamp window, nonces, per-device rate.

Checked in this order, each refusal a 401 unless said otherwise: the header parses; its timestamp
is within ``window_ms`` of the server's clock (the refusal carries ``server_time_ms`` so a kiosk
without a real-time clock can correct its offset and retry); the device is enrolled and not revoked
(the district's ``devices`` view); the signature verifies; the nonce was not seen within the window
(the cache is kept in memory and in the ``nonces`` table, written in the request's transaction, so it
survives a restart); the device is within its request rate (429, token bucket, in memory).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

from crdt.errors import SignatureError
from edge.reads import device
from edge.sync import AuthClaim, parse_auth
from sync_server.errors import RateLimited, Unauthorized

__all__ = ["Caller", "Gate", "NonceCache", "RateLimiter"]


@dataclass(frozen=True)
class Caller:
    """An authenticated device."""

    dev: str
    community: str
    role: str
    claim: AuthClaim

    @property
    def scopes(self) -> list[str] | None:
        """The scopes it reads (``None``: every scope, for a district device)."""
        return None if self.role == "district" else [self.community, "district"]


class NonceCache:
    """Nonces seen in the timestamp window, per device; reloaded from ``nonces`` on start."""

    def __init__(self, conn: sqlite3.Connection, window_ms: int, now_ms: int) -> None:
        self.window_ms = window_ms
        self.seen: dict[tuple[str, str], int] = {}
        rows = conn.execute("SELECT dev, nonce, ts_ms FROM nonces WHERE ts_ms >= ?", (now_ms - window_ms,))
        for dev, nonce, ts in rows:
            self.seen[(dev, nonce)] = int(ts)
        self._adds = 0

    def check_and_add(self, dev: str, nonce: str, ts_ms: int) -> bool:
        """``True`` (and remembered) when new; ``False`` when seen."""
        if (dev, nonce) in self.seen:
            return False
        self.seen[(dev, nonce)] = ts_ms
        self._adds += 1
        return True

    def persist(self, conn: sqlite3.Connection, claim: AuthClaim, now_ms: int) -> None:
        """Record ``claim``'s nonce in the caller's transaction; drop expired ones now and then."""
        conn.execute(
            "INSERT OR IGNORE INTO nonces (dev, nonce, ts_ms) VALUES (?, ?, ?)", (claim.dev, claim.nonce, claim.ts_ms)
        )
        if self._adds >= 1000:
            self._adds = 0
            horizon = now_ms - self.window_ms
            self.seen = {k: ts for k, ts in self.seen.items() if ts >= horizon}
            conn.execute("DELETE FROM nonces WHERE ts_ms < ?", (horizon,))


class RateLimiter:
    """Token buckets: ``rate`` requests per second per key, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: dict[str, tuple[float, int]] = {}

    def take(self, key: str, now_ms: int) -> int | None:
        """Take one token; ``None`` if allowed, else milliseconds until a token is back."""
        tokens, last = self.buckets.get(key, (self.burst, now_ms))
        tokens = min(self.burst, tokens + max(0, now_ms - last) * self.rate / 1000)
        if tokens < 1:
            self.buckets[key] = (tokens, now_ms)
            return int((1 - tokens) * 1000 / self.rate) + 1
        self.buckets[key] = (tokens - 1, now_ms)
        if len(self.buckets) > 100_000:
            self.buckets = {k: v for k, v in self.buckets.items() if v[0] < self.burst - 1}
        return None


class Gate:
    """Authenticates requests against the district node's device registry."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        wall: Callable[[], int],
        *,
        window_ms: int,
        rate: float,
        burst: float,
    ) -> None:
        self.conn = conn
        self.wall = wall
        self.window_ms = window_ms
        self.nonces = NonceCache(conn, window_ms, wall())
        self.rates = RateLimiter(rate, burst)
        self.lock = threading.Lock()  # the writer and the readers both check nonces and rates

    def claim(self, header: str | None) -> AuthClaim:
        """The parsed header, with its timestamp inside the window."""
        try:
            claim = parse_auth(header)
        except ValueError as exc:
            raise Unauthorized("auth_header", f"Authorization: {exc}") from None
        now = self.wall()
        if abs(claim.ts_ms - now) > self.window_ms:
            raise Unauthorized(
                "stale_timestamp",
                f"request time {claim.ts_ms} is {(claim.ts_ms - now) // 1000} s from the server's "
                f"{now}; the window is ±{self.window_ms // 1000} s",
            )
        return claim

    def verify(self, claim: AuthClaim, pubkey: bytes, method: str, path_query: str, body: bytes) -> None:
        """Signature, then nonce, then rate."""
        try:
            claim.verify(pubkey, method, path_query, body)
        except SignatureError as exc:
            raise Unauthorized("signature", f"request signature of device {claim.dev}: {exc}") from None
        with self.lock:
            fresh = self.nonces.check_and_add(claim.dev, claim.nonce, claim.ts_ms)
            wait = self.rates.take(claim.dev, self.wall()) if fresh else None
        if not fresh:
            raise Unauthorized("replay", f"nonce {claim.nonce} of device {claim.dev} was already used")
        if wait is not None:
            raise RateLimited("rate_limited", f"device {claim.dev} is over its request rate", retry_after_ms=wait)

    def authenticate(
        self, header: str | None, method: str, path_query: str, body: bytes, conn: sqlite3.Connection | None = None
    ) -> Caller:
        """The enrolled, unrevoked device that signed this request (its key read through ``conn``, by default
        the writer's)."""
        claim = self.claim(header)
        row = device(conn or self.conn, claim.dev)
        if row is None or not row.pubkey:
            raise Unauthorized("unknown_device", f"device {claim.dev} is not enrolled with this district")
        if row.revoked_from_seq is not None:
            raise Unauthorized("revoked", f"device {claim.dev} is revoked (from seq {row.revoked_from_seq})")
        self.verify(claim, row.pubkey, method, path_query, body)
        return Caller(claim.dev, row.community, row.role, claim)

    def mark_seen(self, conn: sqlite3.Connection, claim: AuthClaim) -> None:
        """Nonce and last-seen time, inside the request's transaction (on the writer)."""
        now = self.wall()
        with self.lock:
            self.nonces.persist(conn, claim, now)
        conn.execute(
            "INSERT INTO seen (dev, last_seen_ms, requests) VALUES (?, ?, 1) ON CONFLICT (dev) DO UPDATE "
            "SET last_seen_ms=excluded.last_seen_ms, requests=requests+1",
            (claim.dev, now),
        )
