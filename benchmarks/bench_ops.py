"""Client CPU per PutItem and GetItem over https: dynamore's Client against boto3, botocore,
PynamoDB, pydynox and aiodynamo.

Every implementation writes, then reads, the same item (8 attributes: two string keys, three
more strings, a number, a bool, a list and a map) in the same table of the same DynamoDB Local,
each set up the way its documentation shows:

- ``dynamore``: ``Client(endpoint_url=..., transport="native")``, ``put_item`` / ``get_item``
  with plain Python values;
- ``boto3 resource``: ``boto3.resource("dynamodb").Table(name)``, ``put_item(Item=...)`` /
  ``get_item(Key=...)``, plain values in and out (numbers come back as ``Decimal``);
- ``botocore client``: ``boto3.client("dynamodb")`` with low-level ``{"S": ...}`` dicts built
  once outside the loop (the client's users encode items themselves, so this favours it);
- ``PynamoDB``: a ``Model`` with the same attributes (a typed ``MapAttribute`` for the map),
  ``save()`` and ``Model.get(hash, range)``;
- ``pydynox`` (Python >= 3.11): its sync ``DynamoDBClient`` (a Rust core on its own runtime
  threads, whose CPU time counts too), ``sync_put_item`` / ``sync_get_item`` with plain values;
- ``aiodynamo`` (Python >= 3.10): its ``Client`` on an ``aiohttp`` session, each call run to
  completion on one event loop kept for the whole run (``loop.run_until_complete``), as a
  Lambda handler calling it from sync code would.

All but pydynox talk https to a :class:`~dynamore.testing.TLSProxy` (its own process, so its
CPU is not counted) in front of DynamoDB Local, with a throw-away CA trusted through
``AWS_CA_BUNDLE`` (aiohttp gets an ``ssl`` context for it). pydynox talks plain http to
DynamoDB Local: its Rust TLS stack reads the trusted roots (``SSL_CERT_FILE``) once per
process, so after another benchmark module has made a pydynox client it cannot trust this
run's CA; without TLS its figures are, if anything, flattered. A peer not installed for this
Python is left out with a printed note.

The headline is client CPU (``time.process_time`` of this process, every thread): DynamoDB Local
runs in its own JVM, so its work is not in the figure, while the wall column includes the
server's and the proxy's time.

Targets (issues 4 and 14): dynamore >= 5x less CPU per call than ``boto3 resource`` for both
operations; ahead of pydynox's sync client.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import os
import ssl
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Callable

from benchmarks.harness import Context, Result, Suite
from dynamore import Client
from dynamore.testing import TLSProxy

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


@contextmanager
def https_endpoint(ctx: Context) -> Iterator[str]:
    """A TLS proxy (own process) in front of ``ctx.endpoint``, trusted through
    ``AWS_CA_BUNDLE`` and ``SSL_CERT_FILE`` while the block runs; yields its URL."""
    with TLSProxy(ctx.endpoint, process=True) as proxy:
        saved = {name: os.environ.get(name) for name in ("AWS_CA_BUNDLE", "SSL_CERT_FILE")}
        os.environ["AWS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = str(proxy.ca_bundle)
        try:
            yield proxy.url
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def installed(module: str, impl: str) -> bool:
    """Whether ``module`` is there; a printed note when it is not."""
    if importlib.util.find_spec(module) is not None:
        return True
    print(f"note: {impl} is not installed for Python {sys.version.split()[0]}: left out")
    return False


class AioDynamo:
    """aiodynamo's client on an aiohttp session, driven from sync code by one event loop."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client, self.session = self.loop.run_until_complete(self._open(url))

    async def _open(self, url: str) -> tuple[Any, Any]:
        import aiohttp
        from aiodynamo.client import Client as AioClient
        from aiodynamo.credentials import Credentials
        from aiodynamo.http.aiohttp import AIOHTTP
        from yarl import URL

        context = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        client = AioClient(AIOHTTP(session), Credentials.auto(), REGION, URL(url))
        return client, session

    def run(self, call: Callable[[], Any]) -> Any:
        return self.loop.run_until_complete(call())

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.close()


def run(ctx: Context) -> list[Result]:
    import boto3

    suite = Suite("ops", ctx)
    n = ctx.n(500, 30)
    with bench_table(ctx, "ops") as (_, table), https_endpoint(ctx) as url, ExitStack() as stack:
        db = stack.enter_context(Client(endpoint_url=url, region=REGION, transport="native"))
        # The same client with a request hook (issue 14): what recording costs. Without one,
        # the plain dynamore rows are what every user pays.
        hooked = stack.enter_context(
            Client(endpoint_url=url, region=REGION, transport="native", on_request=id)
        )
        resource_table = boto3.resource("dynamodb", endpoint_url=url, region_name=REGION).Table(
            table
        )
        low = boto3.client("dynamodb", endpoint_url=url, region_name=REGION)
        stack.callback(low.close)
        Profile = pynamodb_model(table, url)
        attrs = {k: v for k, v in ITEM.items() if k not in KEY}
        profile = Profile(ITEM["PK"], ITEM["SK"], **copy.deepcopy(attrs))
        rust = aio = None
        if installed("pydynox", "pydynox"):
            from pydynox import DynamoDBClient

            rust = DynamoDBClient(endpoint_url=ctx.endpoint, region=REGION)  # http: see above
        if installed("aiodynamo", "aiodynamo") and installed("aiohttp", "aiodynamo (aiohttp)"):
            aio = AioDynamo(url)
            stack.callback(aio.close)
        # Every reader must find the item before any measurement starts.
        db.put_item(table, ITEM)
        _check_same_item(db.get_item(table, KEY), resource_table, low, table, Profile, rust, aio)
        for op in ("put_item", "get_item"):
            calls: dict[str, Callable[[], Any]] = {
                "dynamore": lambda: db.put_item(table, ITEM),
                "dynamore on_request": lambda: hooked.put_item(table, ITEM),
                "boto3 resource": lambda: resource_table.put_item(Item=ITEM),
                "botocore client": lambda: low.put_item(TableName=table, Item=LOW_LEVEL_ITEM),
                "PynamoDB": profile.save,
            }
            if op == "get_item":
                calls = {
                    "dynamore": lambda: db.get_item(table, KEY),
                    "dynamore on_request": lambda: hooked.get_item(table, KEY),
                    "boto3 resource": lambda: resource_table.get_item(Key=KEY)["Item"],
                    "botocore client": lambda: low.get_item(TableName=table, Key=LOW_LEVEL_KEY),
                    "PynamoDB": lambda: Profile.get(ITEM["PK"], ITEM["SK"]),
                }
            if rust is not None:
                calls["pydynox"] = (
                    (lambda: rust.sync_put_item(table, ITEM))
                    if op == "put_item"
                    else (lambda: rust.sync_get_item(table, KEY))
                )
            if aio is not None:
                calls["aiodynamo"] = (
                    (lambda: aio.run(lambda: aio.client.put_item(table, ITEM)))
                    if op == "put_item"
                    else (lambda: aio.run(lambda: aio.client.get_item(table, KEY)))
                )
            for impl, fn in calls.items():
                suite.add(op, impl, fn, ops=n)
        return suite.run()


def _same(theirs: Any) -> bool:
    """``theirs`` is ITEM, numbers read back as int, float or Decimal."""
    return (
        isinstance(theirs, dict)
        and {k: (int(v) if k == "age" else v) for k, v in theirs.items()} == ITEM
    )


def _check_same_item(
    ours: Any, resource_table: Any, low: Any, table: str, model: Any, rust: Any, aio: Any
) -> None:
    """Refuse to measure unless every implementation reads back the very same item."""
    if ours != ITEM:
        raise RuntimeError(f"dynamore read {ours!r}, expected {ITEM!r}")
    theirs = resource_table.get_item(Key=KEY)["Item"]
    if not _same(theirs):
        raise RuntimeError(f"boto3 resource read {theirs!r}")
    if low.get_item(TableName=table, Key=LOW_LEVEL_KEY)["Item"] != LOW_LEVEL_ITEM:
        raise RuntimeError("botocore client read a different item")
    got = model.get(ITEM["PK"], ITEM["SK"])
    if got.address.as_dict() != ITEM["address"] or got.tags != ITEM["tags"]:
        raise RuntimeError("PynamoDB read a different item")
    if rust is not None and not _same(rust.sync_get_item(table, KEY)):
        raise RuntimeError(f"pydynox read {rust.sync_get_item(table, KEY)!r}")
    if aio is not None and not _same(aio.run(lambda: aio.client.get_item(table, KEY))):
        raise RuntimeError("aiodynamo read a different item")
