"""``linli-kiosk``: the lobby kiosk's terminal UI.

``linli-kiosk [--data DIR] [--lang zh|en] [--dev]``; ``--data`` defaults to ``$LINLI_DATA``, then
``./linli-data``. ``--dev`` (used by ``make demo``) lets ``ctrl+q`` quit; without it the kiosk is
locked and only a manager PIN (staff menu) closes it.
"""

from __future__ import annotations

import argparse
import sys

from .errors import KioskError, UsageError
from .i18n import DEFAULT_LANG, LANGS

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(prog="linli-kiosk", description="Linli lobby kiosk (resident and staff screens).")
    p.add_argument("--data", metavar="DIR", help="the node's data directory (default $LINLI_DATA or ./linli-data)")
    p.add_argument("--lang", choices=LANGS, default=DEFAULT_LANG, help="the default language (zh or en)")
    p.add_argument("--dev", action="store_true", help="developer mode: ctrl+q quits (never on a real kiosk)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the kiosk; returns the exit code (2 for a usage error such as a missing node)."""
    args = parser().parse_args(argv)
    from edge import EdgeError, Node

    try:
        try:
            node = Node.open(args.data)
        except EdgeError as exc:
            raise UsageError(str(exc)) from None
        from .app import KioskApp

        with node:
            result = KioskApp(node, lang=args.lang, dev=args.dev).run()
    except KioskError as exc:
        print(f"linli-kiosk: {exc}", file=sys.stderr)
        return exc.exit_code
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
