"""``linli-server``: the district sync server's command line."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    print("usage: linli-server COMMAND --data DIR ... (commands arrive with issue [03])")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
