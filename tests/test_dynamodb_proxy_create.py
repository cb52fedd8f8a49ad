"""Exactly-once create, for ``DynamoDbProxy.post`` and ``load(mode="create")`` alike: a retry
after a lost answer recognises its own write for every value type the codec accepts, and
nothing else does (a second post of identical data is AlreadyExists, the post hook fires once).
Lost answers come from the fault proxy in front of DynamoDB Local."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Optional

import pytest

from dynamore import Client
from dynamore._retry import RetryPolicy
from dynamore.codec import canonical_item, encode_value
from dynamore.dynamodb_proxy import AlreadyExists, DynamoDbProxy
from dynamore.entity import Entity
from tests.client_kit import KINDS, make_client
from tests.faultproxy import FaultProxy
from tests.proxy_kit import proxy_for

Item = dict[str, Any]


class Money(Entity):
    SCHEMA = {
        "title": "MONEY",
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}, "value": {}},
    }
    ID_ATTRIBUTE = "id"


class Counted(Money):
    """Money that counts its post hook's calls."""

    posted: list[Item] = []

    @classmethod
    def post(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> Any:
        cls.posted.append(data)
        return True


# Every kind of value the codec accepts, as money data holds them: what was sent and what
# DynamoDB sends back differ in Python terms for most (Decimal("0.10") is stored as 0.1, a
# tuple comes back a list, 3.0 comes back 3), never in DynamoDB's.
VALUES: dict[str, Any] = {
    "decimal": Decimal("19.90"),
    "decimal exponent": Decimal("1E+2"),
    "decimal 38 digits": Decimal("0.12345678901234567890123456789012345678"),
    "tuple": (Decimal("1.10"), "EUR", 3),
    "string set": {"EUR", "USD", "GBP"},
    "number set": {Decimal("1.50"), 2, 3.0},
    "bytes": b"\x00\xffmoney",
    "bytes set": {b"a", b"\x00"},
    "integral float": 3.0,
    "float": 0.1,
    "big int": 10**30,
    "bool": True,
    "null": None,
    "nested": {"lines": [{"amount": Decimal("9.95"), "qty": 2.0}, ("x", None)], "ok": False},
}


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


RETRY = RetryPolicy(max_attempts=3, transient_base=0.001, throttle_base=0.001)


@pytest.fixture
def faulty(proxy: FaultProxy) -> Iterator[Client]:
    with Client(endpoint_url=proxy.url, transport="native", retry=RETRY) as c:
        yield c


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which proxy a post test runs on: DynamoDbProxy or AsyncDynamoDbProxy."""
    return str(request.param)


@pytest.fixture
def faulty_db(kind: str, proxy: FaultProxy, table: str) -> Iterator[Any]:
    """The proxy under test (of ``kind``), its requests through the fault proxy."""
    with make_client(kind, endpoint_url=proxy.url, transport="native", retry=RETRY) as c:
        yield proxy_for(c, table_name=table)


@pytest.fixture
def db(kind: str, ddb_endpoint: str, table: str) -> Iterator[Any]:
    """The proxy under test (of ``kind``), straight to DynamoDB Local."""
    with make_client(kind, endpoint_url=ddb_endpoint) as c:
        yield proxy_for(c, table_name=table)


@pytest.fixture(autouse=True)
def _no_posts_counted() -> None:
    Counted.posted = []


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_post_whose_answer_was_lost_succeeds_once_for_every_value_type(
    value: Any, proxy: FaultProxy, faulty_db: Any, client: Client, table: str
) -> None:
    db = faulty_db
    data = {"id": "m", "value": value}
    proxy.inject("reset_after", operation="PutItem")  # applied, answer lost
    assert db.post(entity_class=Counted, data=data) == data
    assert proxy.forwarded["PutItem"] == 2  # the retry met its own write
    assert len(Counted.posted) == 1
    key = {"PK": {"S": "MONEY"}, "SK": {"S": "m"}}
    stored = client.call("GetItem", {"TableName": table, "Key": key})["Item"]
    assert (
        canonical_item(stored)["value"] == canonical_item({"value": encode_value(value)})["value"]
    )
    # A post of other data meeting it is someone else's: AlreadyExists, even after a lost answer.
    proxy.inject("reset_after", operation="PutItem")
    with pytest.raises(AlreadyExists):
        db.post(entity_class=Counted, data={"id": "m", "value": "other"})
    assert len(Counted.posted) == 1


@pytest.mark.parametrize("value", [Decimal("19.90"), ("a", 1), {"x"}, "plain"], ids=repr)
def test_two_posts_of_identical_data_only_the_first_wins(value: Any, db: Any) -> None:
    data = {"id": "m", "value": value}
    assert db.post(entity_class=Counted, data=data) == data
    with pytest.raises(AlreadyExists):
        db.post(entity_class=Counted, data=data)
    assert len(Counted.posted) == 1


def test_a_post_retried_only_after_throttling_meets_no_write_of_its_own(
    proxy: FaultProxy, faulty_db: Any, client: Client, table: str
) -> None:
    # A throttled attempt was not applied: the identical item already there is someone else's.
    DynamoDbProxy(table_name=table, client=client).post(entity_class=Money, data={"id": "m"})
    proxy.inject("throttle", operation="PutItem")
    with pytest.raises(AlreadyExists):
        faulty_db.post(entity_class=Counted, data={"id": "m"})
    assert proxy.forwarded["PutItem"] == 1 and faulty_db.client.stats.retries == 1
    assert Counted.posted == []


# -- load(mode="create") agrees -----------------------------------------------------------------


def _rows() -> list[Item]:
    return [{"id": f"m{i}", "value": value} for i, value in enumerate(VALUES.values())]


def test_create_load_whose_answers_were_lost_writes_every_value_type_once(
    proxy: FaultProxy, faulty: Client, client: Client, table: str
) -> None:
    rows = _rows()
    proxy.inject("reset_after", operation="PutItem", times=len(rows))  # every first answer lost
    report = DynamoDbProxy(table_name=table, client=faulty).load(
        Money, rows, mode="create", workers=1
    )
    assert (report.written, report.already_existing, report.failed) == (len(rows), 0, 0)
    assert proxy.forwarded["PutItem"] == 2 * len(rows)
    assert len(client.scan(table).items) == len(rows)


def test_create_load_meeting_identical_items_it_did_not_write_reports_them(
    proxy: FaultProxy, faulty: Client, client: Client, table: str
) -> None:
    rows = _rows()
    DynamoDbProxy(table_name=table, client=client).load(Money, rows, mode="create")
    # The same rows again, each put throttled once first (not applied), like a second post.
    proxy.inject("throttle", operation="PutItem", times=len(rows))
    report = DynamoDbProxy(table_name=table, client=faulty).load(
        Money, rows, mode="create", workers=1
    )
    assert (report.written, report.already_existing) == (0, len(rows))
    assert sorted(report.existing) == sorted(r["id"] for r in rows)


def test_create_load_recognises_its_write_across_rounds_after_the_client_gave_up(
    proxy: FaultProxy, client: Client, table: str
) -> None:
    # The client's two attempts both lose their answers (the first was applied); the load's
    # own next round then meets the item: its own write, though that round's error is not
    # marked ambiguous by the client.
    retry = RetryPolicy(max_attempts=2, transient_base=0.001)
    rows = [{"id": "m", "value": Decimal("19.90")}]
    proxy.inject("reset_after", operation="PutItem", times=2)
    with Client(endpoint_url=proxy.url, transport="native", retry=retry) as two_attempts:
        db = DynamoDbProxy(table_name=table, client=two_attempts)
        report = db.load(Money, rows, mode="create", workers=1, batch_attempts=3)
    assert (report.written, report.already_existing) == (1, 0)
    assert proxy.forwarded["PutItem"] == 3
