"""``linli-kiosk``: the lobby kiosk's terminal UI."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    print("usage: linli-kiosk [--data DIR] [--lang zh|en] (the UI arrives with issue [04])")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
