"""Shared fixtures: one DynamoDB Local per test session, one fresh table per test.

Tests that take neither ``ddb_endpoint`` nor ``table`` never start a server. When
``DDB_ENDPOINT`` is set, that server is used and nothing is started.
"""

from __future__ import annotations

import doctest
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests import ddb_admin

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
def ddb_endpoint(dynamore_endpoint: str) -> str:
    """Endpoint URL of DynamoDB Local, from the public plugin (``dynamore.testing``):
    ``$DDB_ENDPOINT`` if set, else one started for the session."""
    return dynamore_endpoint


@pytest.fixture
def table(ddb_endpoint: str) -> Iterator[str]:
    """A new table (string PK hash key, string SK range key, on-demand) deleted afterwards.

    Made through botocore's own client rather than the plugin's ``dynamore_table``, so a bug in
    dynamore's client cannot hide behind the fixture meant to catch it."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    ddb_admin.create_table(ddb_endpoint, name)
    try:
        yield name
    finally:
        ddb_admin.delete_table(ddb_endpoint, name)


@pytest.fixture
def client(dynamore_client: Any) -> Any:
    """A dynamore Client for the test server (the plugin's ``dynamore_client``)."""
    return dynamore_client


def _only_skipped_examples(item: pytest.Item) -> bool:
    """A doctest whose every example is marked ``+SKIP`` (it shows a call against a live
    server): documentation, not a test, so it is left out rather than reported as skipped."""
    test = getattr(item, "dtest", None)
    return (
        isinstance(test, doctest.DocTest)
        and bool(test.examples)
        and all(example.options.get(doctest.SKIP) for example in test.examples)
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every test that reaches DynamoDB Local, directly or through another fixture, is marked
    # ``ddb``: ``pytest -m "not ddb"`` then runs the pure units without Java.
    kept, dropped = [], []
    for item in items:
        if _only_skipped_examples(item):
            dropped.append(item)
            continue
        if "dynamore_endpoint" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ddb)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
