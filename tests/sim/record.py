"""What the world saw go wrong: every refusal, rejection, quarantine, alarm and exception, by kind.

The simulation never retries its way past a failure silently: each one is recorded here with the
device it concerns, and the tests assert at the end that none concerns an honest device (and that
the ones an injected fault causes are the expected ones). A 5xx answer is always a violation, whoever
caused it: bad input gets a named refusal, never a server error.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Record", "Seen"]


@dataclass(frozen=True)
class Seen:
    """One thing that went wrong: its kind (``http_5xx``, ``rejected:gap``, ``quarantine`` ...),
    the device it concerns (``None``: no device in particular) and what was said."""

    kind: str
    dev: str | None
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} [{self.dev or '-'}] {self.detail[:300]}"


@dataclass
class Record:
    """Every ``Seen`` of one run, in order."""

    seen: list[Seen] = field(default_factory=list)

    def add(self, kind: str, dev: str | None, detail: str) -> None:
        self.seen.append(Seen(kind, dev, detail))

    def about(self, devs: set[str] | None = None, *, exclude: set[str] | None = None) -> list[Seen]:
        """What concerns ``devs`` (all if ``None``), leaving out ``exclude``."""
        return [
            s
            for s in self.seen
            if (devs is None or s.dev in devs) and (exclude is None or s.dev is None or s.dev not in exclude)
        ]

    def kinds(self, seen: list[Seen] | None = None) -> Counter[str]:
        return Counter(s.kind for s in (self.seen if seen is None else seen))

    def server_errors(self) -> list[Seen]:
        return [s for s in self.seen if s.kind.startswith("http_5")]
