"""``python -m dynamore``: the command line of :mod:`dynamore.loader.cli`."""

from __future__ import annotations

import sys

from dynamore.loader.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
