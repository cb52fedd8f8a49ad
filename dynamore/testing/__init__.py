"""Test tooling for code that uses dynamore: DynamoDB Local and pytest fixtures.

dynamore does not go through botocore's HTTP layer, so moto cannot stand in for DynamoDB;
test against DynamoDB Local (AWS's own emulator, run with Java 17+) instead, the way dynamore's
own suite does.

- :class:`DynamoDBLocal` starts a server on a free loopback port and stops it (a context
  manager); ``python -m dynamore.testing serve`` runs one in the foreground and
  ``python -m dynamore.testing run -- CMD`` runs CMD with ``DDB_ENDPOINT`` set to a fresh one.
- The pytest plugin :mod:`dynamore.testing.plugin` (registered under the name ``dynamore``;
  its fixtures start nothing until a test asks for them) offers ``dynamore_endpoint``,
  ``dynamore_client`` and ``dynamore_table`` (a fresh table for the entity classes that the
  ``dynamore_entities`` fixture returns; override it in your ``conftest.py``).
- :class:`TLSProxy` puts https in front of it, with a throw-away CA made per run
  (:func:`make_certificates`, trusted through ``AWS_CA_BUNDLE``): the way a Lambda reaches
  DynamoDB, certificate checks and TLS handshakes included.

>>> from dynamore.testing import DynamoDBLocal
>>> with DynamoDBLocal() as ddb:                     # doctest: +SKIP
...     client = Client(endpoint_url=ddb.endpoint)
"""

from __future__ import annotations

from dynamore._ddblocal import (
    NPM_PACKAGE,
    DynamoDBLocal,
    LauncherError,
    default_home,
    ensure_installed,
    free_port,
)
from dynamore._tlsproxy import Certificates, TLSProxy, make_certificates

__all__ = [
    "NPM_PACKAGE",
    "Certificates",
    "DynamoDBLocal",
    "LauncherError",
    "TLSProxy",
    "default_home",
    "ensure_installed",
    "free_port",
    "make_certificates",
]
