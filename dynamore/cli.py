"""The ``dynamore`` command (``python -m dynamore``): one subcommand per tool.

- ``dynamore load ...``: load a JSON Lines file of entities (:mod:`dynamore.loader.cli`);
- ``dynamore serve ...``: serve a REST API over entity types on loopback
  (:mod:`dynamore.rest._serve`);
- ``dynamore load-plan ...``: print the Step Functions state machine of a load from S3
  (:mod:`dynamore.loader._plan`).

Each subcommand's module is imported only when it runs, so one tool's imports never slow the
other's start.
"""

from __future__ import annotations

import sys
from typing import Optional

__all__ = ["COMMANDS", "main"]

#: Subcommand -> what it does (``dynamore --help`` lists them).
COMMANDS = {
    "load": "load a JSON Lines file of entities into a table",
    "serve": "serve a REST API over entity types on loopback (HTTP, for development)",
    "load-plan": "print the Step Functions state machine that loads a file from S3",
}


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command line; returns the exit status of the subcommand."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "serve":
        from dynamore.rest._serve import main as serve

        return serve(args[1:])
    if args and args[0] == "load-plan":
        from dynamore.loader._plan import main as plan

        return plan(args[1:])
    from dynamore.loader.cli import main as load

    # The loader's parser knows every other form: load, --version, --help, and the errors.
    return load(args)
