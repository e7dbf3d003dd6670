"""``linli-edge``: the staff command line of a community node."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("usage: linli-edge COMMAND [--data DIR] ... (commands arrive with issue [02])")
    return 0 if argv is None and len(sys.argv) <= 2 else 2


if __name__ == "__main__":
    raise SystemExit(main())
