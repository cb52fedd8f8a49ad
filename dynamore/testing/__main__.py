"""``python -m dynamore.testing install | serve | run -- CMD``: see :mod:`dynamore.testing`."""

from __future__ import annotations

import sys

from dynamore._ddblocal import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m dynamore.testing"))
