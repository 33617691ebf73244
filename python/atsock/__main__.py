"""``python -m atsock``: the command line (see :mod:`atsock.cli`)."""

from __future__ import annotations

from atsock.cli import main

raise SystemExit(main())
