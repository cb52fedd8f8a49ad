"""Shared fixtures: one DynamoDB Local per test session, one fresh table per test.

Tests that take neither ``ddb_endpoint`` nor ``table`` never start a server. When
``DDB_ENDPOINT`` is set, that server is used and nothing is started.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from dynamore._ddblocal import DynamoDBLocal
from tests import ddb_admin

ROOT = Path(__file__).resolve().parent.parent

# Tests never hold code to a wall-clock limit: on a loaded CI machine Hypothesis' per-example
# deadline and its too-slow health check would fail correct code.
settings.register_profile("dynamore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dynamore")

# Credentials and region for DynamoDB Local (it accepts any); set before any client is built so
# no test ever reaches for a real account. setdefault keeps what a developer exported.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def ddb_endpoint() -> Iterator[str]:
    """Endpoint URL of DynamoDB Local: ``$DDB_ENDPOINT`` if set, else one started here."""
    given = os.environ.get("DDB_ENDPOINT")
    if given:
        yield given
        return
    home = Path(os.environ.get("DYNAMORE_DDB_HOME") or ROOT / ".ddb")
    with DynamoDBLocal(home) as server:
        yield server.endpoint


@pytest.fixture
def table(ddb_endpoint: str) -> Iterator[str]:
    """A new table (string PK hash key, string SK range key, on-demand) deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    ddb_admin.create_table(ddb_endpoint, name)
    try:
        yield name
    finally:
        ddb_admin.delete_table(ddb_endpoint, name)


@pytest.fixture
def client(ddb_endpoint: str) -> Iterator[Any]:
    """A dynamore Client for the test server, closed afterwards."""
    from dynamore import Client

    with Client(
        endpoint_url=ddb_endpoint, region="us-east-1", credentials=("testing", "testing")
    ) as c:
        yield c
