"""``python -m edge.cli``."""

from edge.cli.main import main

raise SystemExit(main())
