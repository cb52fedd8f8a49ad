"""``python -m dynamore`` and the ``dynamore`` console script: see :mod:`dynamore._cli`."""

from __future__ import annotations

import sys
from typing import Optional

__all__ = ["main"]


def main(argv: Optional[list[str]] = None) -> int:
    """Run the ``dynamore`` command line with ``argv`` (default: ``sys.argv[1:]``)."""
    from dynamore._cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
