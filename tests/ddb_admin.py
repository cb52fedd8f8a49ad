"""Table set-up for the test harness, through botocore's own client.

The harness deliberately does not use dynamore's client, so a bug there cannot hide behind the
fixtures that are meant to catch it.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import botocore.session


@functools.cache
def botocore_client(endpoint: str) -> Any:
    """A plain botocore DynamoDB client for ``endpoint`` (cached per endpoint)."""
    session = botocore.session.get_session()
    return session.create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_table(endpoint: str, name: str, **extra: Any) -> None:
    """Create ``name`` with string keys PK (hash) and SK (range), on-demand billing."""
    botocore_client(endpoint).create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def delete_table(endpoint: str, name: str) -> None:
    """Delete ``name``; a table that is already gone is fine."""
    client = botocore_client(endpoint)
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=name)


def list_tables(endpoint: str) -> list[str]:
    """Every table name on the server."""
    return list(botocore_client(endpoint).list_tables().get("TableNames", []))
