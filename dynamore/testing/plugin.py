"""pytest fixtures for tests of code that uses dynamore, against DynamoDB Local.

Registered through the ``pytest11`` entry point under the name ``dynamore`` (``-p no:dynamore``
turns it off). Nothing starts until a test asks for a fixture:

- ``dynamore_endpoint`` (session): ``$DDB_ENDPOINT`` when set, else a DynamoDB Local started for
  the session (downloaded once into ``$DYNAMORE_DDB_HOME`` or ``./.ddb``) and stopped after it;
- ``dynamore_client``: a :class:`dynamore.Client` for that endpoint, closed afterwards;
- ``dynamore_entities``: the entity classes ``dynamore_table`` is made for; override it::

      @pytest.fixture
      def dynamore_entities():
          return [Person, Doc]

- ``dynamore_table``: the name of a fresh table for those entities (their keys and indexes,
  from :func:`dynamore.table_definition`; keys ``PK``/``SK`` when there are none), deleted
  afterwards. Give your proxy the client: ``DynamoDbProxy(table_name=dynamore_table,
  client=dynamore_client)``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from dynamore._ddblocal import DynamoDBLocal, default_home
from dynamore._tables import table_definition

if TYPE_CHECKING:
    from dynamore import Client

__all__ = ["dynamore_client", "dynamore_endpoint", "dynamore_entities", "dynamore_table"]

#: DynamoDB Local accepts any credentials; these keep tests away from a real account.
TEST_CREDENTIALS = ("testing", "testing")
TEST_REGION = "us-east-1"


@pytest.fixture(scope="session")
def dynamore_endpoint() -> Iterator[str]:
    """Endpoint URL of DynamoDB Local: ``$DDB_ENDPOINT`` if set, else one started here."""
    given = os.environ.get("DDB_ENDPOINT")
    if given:
        yield given
        return
    with DynamoDBLocal(default_home()) as server:
        yield server.endpoint


@pytest.fixture
def dynamore_client(dynamore_endpoint: str) -> Iterator[Client]:
    """A :class:`dynamore.Client` for the test server, closed afterwards."""
    from dynamore import Client

    with Client(
        endpoint_url=dynamore_endpoint, region=TEST_REGION, credentials=TEST_CREDENTIALS
    ) as client:
        yield client


@pytest.fixture
def dynamore_entities() -> list[Any]:
    """The entity classes ``dynamore_table`` is made for (none: keys PK/SK only)."""
    return []


@pytest.fixture
def dynamore_table(dynamore_client: Client, dynamore_entities: list[Any]) -> Iterator[str]:
    """A fresh table for ``dynamore_entities``, deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    definition = table_definition(name, dynamore_entities)
    dynamore_client.call("CreateTable", definition)
    dynamore_client.wait_for_table(name)
    try:
        yield name
    finally:
        dynamore_client.delete_table(name)
