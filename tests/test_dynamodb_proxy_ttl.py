"""TTL that reads honestly, against DynamoDB Local: DynamoDB deletes expired items only
eventually, so every verb and listing treats an item whose expiry time has passed as absent,
decided by the request itself (conditions and filters), never by a read first."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dynamore import Client
from dynamore._retry import RetryPolicy
from dynamore.dynamodb_proxy import AlreadyExists, DynamoDbProxy, NotFound
from dynamore.entity import Entity
from dynamore.exceptions import ValidationError
from tests.client_kit import KINDS, make_client
from tests.faultproxy import FaultProxy
from tests.proxy_kit import proxy_for

Item = dict[str, Any]


class Session(Entity):
    SCHEMA = {
        "title": "SESSION",
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "user": {"type": "string"},
            "expires_at": {"type": "number"},
            "version": {"type": "integer"},
        },
    }
    ID_ATTRIBUTE = "id"
    TTL_ATTRIBUTE = "expires_at"
    VERSION_ATTRIBUTE = "version"


class Loose(Entity):
    """No type on the expiry attribute in the schema: the proxy still wants a number."""

    SCHEMA = {"title": "LOOSE", "type": "object", "properties": {"id": {"type": "string"}}}
    ID_ATTRIBUTE = "id"
    TTL_ATTRIBUTE = "ttl"


PAST = int(time.time()) - 3600
FUTURE = int(time.time()) + 3600


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, proxy: FaultProxy, table: str) -> Iterator[DynamoDbProxy]:
    """A proxy (DynamoDbProxy, or AsyncDynamoDbProxy behind a blocking facade) whose every
    request goes through the fault proxy (which counts them)."""
    retry = RetryPolicy(max_attempts=1)
    with make_client(request.param, endpoint_url=proxy.url, transport="native", retry=retry) as c:
        yield proxy_for(c, table_name=table, check_table=False)


def _seed(client: Client, table: str) -> None:
    """Sessions s0..s9; the odd ones expired (as DynamoDB may keep them for days); s10 with an
    expiry time DynamoDB's TTL ignores (not a number), s11 without one."""
    for i in range(10):
        expires = PAST if i % 2 else FUTURE
        item = {"id": f"s{i}", "user": "u", "expires_at": expires}
        client.put_item(table, {"PK": "SESSION", "SK": f"s{i}", **item})
    client.put_item(table, {"PK": "SESSION", "SK": "s10", "id": "s10", "expires_at": "never"})
    client.put_item(table, {"PK": "SESSION", "SK": "s11", "id": "s11"})


LIVE = ["s0", "s10", "s11", "s2", "s4", "s6", "s8"]


def test_reads_skip_expired_items(
    db: DynamoDbProxy, proxy: FaultProxy, client: Client, table: str
) -> None:
    _seed(client, table)
    assert db.get(entity_class=Session, data={"id": "s1"}) is None
    assert db.get(entity_class=Session, data={"id": "s2"}) == {
        "id": "s2",
        "user": "u",
        "expires_at": FUTURE,
    }
    assert db.get(entity_class=Session, data={"id": "s10"}) is not None
    assert sorted(s["id"] for s in db.get(entity_class=Session)) == LIVE
    page = db.query(entity_class=Session, limit=3)
    assert [s["id"] for s in page.items] == LIVE[:3]  # the page fills past expired items
    assert page.cursor is not None
    rest = db.query(entity_class=Session, limit=10, cursor=page.cursor)
    assert [s["id"] for s in rest.items] == LIVE[3:] and rest.cursor is None
    assert [s["id"] for s in db.iter(entity_class=Session, page_size=2)] == LIVE
    where = {"user": "u"}
    assert [s["id"] for s in db.iter(entity_class=Session, where=where)] == [
        i for i in LIVE if i not in ("s10", "s11")
    ]
    assert "Scan" not in proxy.forwarded and proxy.forwarded["GetItem"] == 3


def test_writes_of_an_expired_item_are_not_found_in_one_request(
    db: DynamoDbProxy, proxy: FaultProxy, client: Client, table: str
) -> None:
    _seed(client, table)
    with pytest.raises(NotFound):
        db.put(entity_class=Session, data={"id": "s1", "user": "x"})
    with pytest.raises(NotFound):
        db.patch(entity_class=Session, data={"id": "s1", "user": "x"})
    with pytest.raises(NotFound):
        db.patch(entity_class=Session, data={"id": "s1", "user": "x"}, if_match=1)
    with pytest.raises(NotFound):
        db.delete(entity_class=Session, data={"id": "s1"})
    assert dict(proxy.forwarded) == {"UpdateItem": 3, "DeleteItem": 1}
    stored = client.get_item(table, {"PK": "SESSION", "SK": "s1"})
    assert stored is not None and stored["user"] == "u"  # untouched
    # Live items are written as usual, and may get a new expiry time.
    assert db.patch(entity_class=Session, data={"id": "s2", "expires_at": PAST})["version"] == 1
    with pytest.raises(NotFound):
        db.patch(entity_class=Session, data={"id": "s2", "user": "x"})
    assert db.put(entity_class=Session, data={"id": "s10", "user": "y"})["user"] == "y"
    assert db.delete(entity_class=Session, data={"id": "s11"})["id"] == "s11"


def test_post_over_an_expired_item_creates_it(
    db: DynamoDbProxy, proxy: FaultProxy, client: Client, table: str
) -> None:
    _seed(client, table)
    created = db.post(entity_class=Session, data={"id": "s1", "user": "new"})
    assert created == {"id": "s1", "user": "new", "version": 1}
    assert db.get(entity_class=Session, data={"id": "s1"}) == created
    for live in ("s2", "s10", "s11"):
        with pytest.raises(AlreadyExists):
            db.post(entity_class=Session, data={"id": live})
    assert dict(proxy.forwarded) == {"PutItem": 4, "GetItem": 1}


def test_the_expiry_time_must_be_a_number(db: DynamoDbProxy, proxy: FaultProxy) -> None:
    for bad in ("tomorrow", True, None, float("inf"), [1]):
        with pytest.raises(ValidationError, match="ttl: the expiry time must be a number"):
            db.post(entity_class=Loose, data={"id": "x", "ttl": bad})
        with pytest.raises(ValidationError, match="ttl"):
            db.patch(entity_class=Loose, data={"id": "x", "ttl": bad})
    assert not proxy.forwarded
