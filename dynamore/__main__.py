"""``python -m dynamore``: the ``dynamore`` command line (:mod:`dynamore.cli`)."""

from __future__ import annotations

import sys

from dynamore.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
