"""dynamore's debug records, on the ``"dynamore"`` logger, and only off the success path.

They mark what a caller cannot otherwise see: a retry and its backoff, a credential refresh, a
request resent on a fresh connection, an idle connection dropped before reuse. A successful
request on a pooled connection emits nothing and pays nothing. ``logging`` itself is imported at
the first record, not by ``import dynamore``: it costs ~5 ms of cold start, and most Lambda
invocations never retry. Turn the records on as for any library::

    logging.basicConfig()
    logging.getLogger("dynamore").setLevel(logging.DEBUG)
"""

from __future__ import annotations

__all__ = ["LOGGER_NAME", "debug"]

#: The one logger every dynamore record goes to.
LOGGER_NAME = "dynamore"


def debug(message: str, *args: object) -> None:
    """Emit a DEBUG record; ``args`` are %-formatted only if the record is handled, so callers
    pass objects, never preformatted text."""
    import logging

    # stacklevel=2: the record names the caller's module, function and line, not this one.
    logging.getLogger(LOGGER_NAME).debug(message, *args, stacklevel=2)
