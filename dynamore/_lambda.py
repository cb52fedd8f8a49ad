"""The AWS Lambda life cycle: prewarm during INIT, and start afresh after a SnapStart restore.

A Lambda's INIT phase (module level code) is not billed the way invocations are and, with
provisioned concurrency or SnapStart, runs before any request arrives. :func:`prewarm` does
there what the first invocation would otherwise pay for: resolve the credentials, derive the
SigV4 signing key, open the connection (DNS, TCP, TLS handshake) and, for a
:class:`~dynamore.dynamodb_proxy.DynamoDbProxy`, run its table check for the given entity types.

SnapStart snapshots the process after INIT and resumes copies of it later, elsewhere: the
connections of the snapshot are dead by then, and the credentials may be stale.
:func:`after_restore` drops every pooled connection of every transport of the process and reads
the credentials of every client again. When the runtime says it starts from a snapshot
(``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``), the first transport built registers it with the
runtime's ``snapshot_restore_py.register_after_restore``, so nothing needs calling by hand.

>>> db = Client()                        # module level: runs during INIT  # doctest: +SKIP
>>> prewarm(db)                                                        # doctest: +SKIP
>>> proxy = DynamoDbProxy(table_name="app")                            # doctest: +SKIP
>>> prewarm(proxy, Person, Order)        # shared client + table check # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
import time

from dynamore._credentials import _live as _live_providers
from dynamore._log import debug
from dynamore._transports.base import _live as _live_transports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Union

    from dynamore._client import Client
    from dynamore.dynamodb_proxy import DynamoDbProxy

__all__ = ["after_restore", "prewarm", "prewarm_client", "register_restore_hook"]

#: The value of ``AWS_LAMBDA_INITIALIZATION_TYPE`` in a function that runs from snapshots.
SNAPSTART = "snap-start"

_hook_lock = threading.Lock()
_hook_registered = False


def prewarm_client(client: Client) -> None:
    """:meth:`dynamore.Client.prewarm`: credentials, signing key and one open connection."""
    wire = client._wire
    credentials = wire.credentials.get()
    # Signing any request derives the signing key of the day and caches it in the signer.
    wire.signer.headers("GetItem", b"{}", credentials, time.time())
    warm = getattr(wire.transport, "prewarm", None)
    if callable(warm):
        warm()


def prewarm(target: Union[Client, DynamoDbProxy], *entity_classes: Any) -> None:
    """Do during Lambda's INIT phase what the first request would pay for.

    ``target`` is a :class:`~dynamore.Client`, or a
    :class:`~dynamore.dynamodb_proxy.DynamoDbProxy` (its client, by default the shared one
    every proxy of the process uses), whose table check then runs for ``entity_classes``.
    Errors (no credentials, a refused connection, a table without the entities' keys) are
    raised here, at INIT, rather than at the first invocation.

    >>> prewarm(DynamoDbProxy(table_name="app"), Person)   # doctest: +SKIP
    """
    ensure = getattr(target, "ensure_table", None)
    if entity_classes and ensure is None:
        raise TypeError("entity classes are checked through a DynamoDbProxy, not a Client")
    client: Any = getattr(target, "client", target)  # a proxy's client, or the Client itself
    prewarm_client(client)
    for entity_class in entity_classes:
        ensure(entity_class)  # type: ignore[misc]


def after_restore() -> None:
    """Start afresh after a SnapStart restore (or anything that froze the process and moved
    it): close the pooled connections of every transport of this process and read every
    client's credentials again from where they came from. Requests after it open new
    connections. Registered with the Lambda runtime by itself; safe to call by hand."""
    transports = list(_live_transports)
    for transport in transports:
        transport.close()
    providers = list(_live_providers)
    for provider in providers:
        provider.reload()
    debug(
        "after restore: closed the connections of %d transport(s), re-read %d credential source(s)",
        len(transports),
        len(providers),
    )


def register_restore_hook() -> bool:
    """Register :func:`after_restore` with the Lambda runtime's ``snapshot_restore_py``, once
    per process. False when that module is not there (not on Lambda)."""
    global _hook_registered
    with _hook_lock:
        if _hook_registered:
            return True
        try:
            from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
        except ImportError:
            return False
        register_after_restore(after_restore)
        _hook_registered = True
        return True


def register_when_snapstart() -> None:
    """What every new Client calls: registers :func:`after_restore` in a SnapStart function
    only, so that elsewhere the cold path does not even look for ``snapshot_restore_py``."""
    if not _hook_registered and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == SNAPSTART:
        register_restore_hook()
