"""Client CPU per PutItem and GetItem: dynamore's Client against boto3, botocore and PynamoDB.

Every implementation writes, then reads, the same item (8 attributes: two string keys, three
more strings, a number, a bool, a list and a map) in the same table of the same DynamoDB Local,
each set up the way its documentation shows:

- ``dynamore``: ``Client(endpoint_url=..., transport="native")``, ``put_item`` / ``get_item``
  with plain Python values (``transport="native"`` is explicit because this machine sets
  ``AWS_CA_BUNDLE``, which makes ``"auto"`` pick the botocore transport);
- ``boto3 resource``: ``boto3.resource("dynamodb").Table(name)``, ``put_item(Item=...)`` /
  ``get_item(Key=...)``, plain values in and out (numbers come back as ``Decimal``);
- ``botocore client``: ``boto3.client("dynamodb")`` with low-level ``{"S": ...}`` dicts built
  once outside the loop (the client's users encode items themselves, so this favours it);
- ``PynamoDB``: a ``Model`` with the same attributes (a typed ``MapAttribute`` for the map),
  ``save()`` and ``Model.get(hash, range)``.

The headline is client CPU (``time.process_time`` of this process): DynamoDB Local runs in its
own JVM, so its work is not in the figure, while the wall column includes the server's time.

Target (issue 4): dynamore >= 5x less CPU per call than ``boto3 resource`` for both operations.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.harness import Context, Result, Suite
from dynamore import Client

REGION = "us-east-1"

ITEM: dict[str, Any] = {
    "PK": "USER#00012345",
    "SK": "PROFILE",
    "name": "Jeanne d'Arc",
    "email": "jeanne.darc@example.com",
    "age": 31,
    "active": True,
    "tags": ["admin", "early-adopter", "fr"],
    "address": {"street": "1 Rue de Rivoli", "city": "Paris", "zip": "75001"},
}
KEY = {"PK": ITEM["PK"], "SK": ITEM["SK"]}

# ITEM as the botocore client's users write it.
LOW_LEVEL_ITEM: dict[str, Any] = {
    "PK": {"S": ITEM["PK"]},
    "SK": {"S": ITEM["SK"]},
    "name": {"S": ITEM["name"]},
    "email": {"S": ITEM["email"]},
    "age": {"N": str(ITEM["age"])},
    "active": {"BOOL": ITEM["active"]},
    "tags": {"L": [{"S": t} for t in ITEM["tags"]]},
    "address": {"M": {k: {"S": v} for k, v in ITEM["address"].items()}},
}
LOW_LEVEL_KEY = {"PK": LOW_LEVEL_ITEM["PK"], "SK": LOW_LEVEL_ITEM["SK"]}


def unique_table_name(area: str) -> str:
    """A table name no concurrent run will pick."""
    return f"bench-{area}-{uuid.uuid4().hex[:10]}"


@contextmanager
def bench_table(ctx: Context, area: str) -> Iterator[tuple[Client, str]]:
    """Create a table (PK/SK strings) with dynamore's Client; delete it and close afterwards."""
    client = Client(endpoint_url=ctx.endpoint, region=REGION, transport="native")
    name = unique_table_name(area)
    client.create_table(name)
    try:
        yield client, name
    finally:
        try:
            client.delete_table(name)
        finally:
            client.close()


def pynamodb_model(table: str, endpoint: str) -> Any:
    """A PynamoDB Model class for ITEM's attributes in ``table``."""
    from pynamodb.attributes import (
        BooleanAttribute,
        ListAttribute,
        MapAttribute,
        NumberAttribute,
        UnicodeAttribute,
    )
    from pynamodb.models import Model

    class Address(MapAttribute):  # type: ignore[type-arg]
        street = UnicodeAttribute()
        city = UnicodeAttribute()
        zip = UnicodeAttribute()

    class Profile(Model):
        class Meta:
            table_name = table
            host = endpoint
            region = REGION

        pk = UnicodeAttribute(hash_key=True, attr_name="PK")
        sk = UnicodeAttribute(range_key=True, attr_name="SK")
        name = UnicodeAttribute()
        email = UnicodeAttribute()
        age = NumberAttribute()
        active = BooleanAttribute()
        tags = ListAttribute(of=UnicodeAttribute)
        address = Address()  # type: ignore[no-untyped-call]

    return Profile


def run(ctx: Context) -> list[Result]:
    import boto3

    suite = Suite("ops", ctx)
    n = ctx.n(500, 30)
    with bench_table(ctx, "ops") as (_, table):
        db = Client(endpoint_url=ctx.endpoint, region=REGION, transport="native")
        # The same client with a request hook (issue 14): what recording costs. Without one,
        # the plain dynamore rows are what every user pays.
        hooked = Client(endpoint_url=ctx.endpoint, region=REGION, transport="native", on_request=id)
        resource_table = boto3.resource(
            "dynamodb", endpoint_url=ctx.endpoint, region_name=REGION
        ).Table(table)
        low = boto3.client("dynamodb", endpoint_url=ctx.endpoint, region_name=REGION)
        Profile = pynamodb_model(table, ctx.endpoint)
        attrs = {k: v for k, v in ITEM.items() if k not in KEY}
        profile = Profile(ITEM["PK"], ITEM["SK"], **copy.deepcopy(attrs))
        try:
            # Every reader must find the item before any measurement starts.
            db.put_item(table, ITEM)
            suite.add("put_item", "dynamore", lambda: db.put_item(table, ITEM), ops=n)
            suite.add(
                "put_item", "dynamore on_request", lambda: hooked.put_item(table, ITEM), ops=n
            )
            suite.add(
                "put_item", "boto3 resource", lambda: resource_table.put_item(Item=ITEM), ops=n
            )
            suite.add(
                "put_item",
                "botocore client",
                lambda: low.put_item(TableName=table, Item=LOW_LEVEL_ITEM),
                ops=n,
            )
            suite.add("put_item", "PynamoDB", profile.save, ops=n)
            suite.add("get_item", "dynamore", lambda: db.get_item(table, KEY), ops=n)
            suite.add("get_item", "dynamore on_request", lambda: hooked.get_item(table, KEY), ops=n)
            suite.add(
                "get_item",
                "boto3 resource",
                lambda: resource_table.get_item(Key=KEY)["Item"],
                ops=n,
            )
            suite.add(
                "get_item",
                "botocore client",
                lambda: low.get_item(TableName=table, Key=LOW_LEVEL_KEY)["Item"],
                ops=n,
            )
            suite.add("get_item", "PynamoDB", lambda: Profile.get(ITEM["PK"], ITEM["SK"]), ops=n)
            _check_same_item(db.get_item(table, KEY), resource_table, low, table, Profile)
            return suite.run()
        finally:
            db.close()
            hooked.close()
            low.close()


def _check_same_item(ours: Any, resource_table: Any, low: Any, table: str, model: Any) -> None:
    """Refuse to measure unless every implementation reads back the very same item."""
    if ours != ITEM:
        raise RuntimeError(f"dynamore read {ours!r}, expected {ITEM!r}")
    theirs = resource_table.get_item(Key=KEY)["Item"]
    if {k: (int(v) if k == "age" else v) for k, v in theirs.items()} != ITEM:
        raise RuntimeError(f"boto3 resource read {theirs!r}")
    if low.get_item(TableName=table, Key=LOW_LEVEL_KEY)["Item"] != LOW_LEVEL_ITEM:
        raise RuntimeError("botocore client read a different item")
    got = model.get(ITEM["PK"], ITEM["SK"])
    if got.address.as_dict() != ITEM["address"] or got.tags != ITEM["tags"]:
        raise RuntimeError("PynamoDB read a different item")
